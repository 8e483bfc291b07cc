"""Train one graph in PyTorch and Keras side by side, on identical batches, from one init.

:func:`run_training` is ``archdsl train``: it loads the dataset, computes the normalization from
the training set, initializes the weights **once** (:func:`archdsl.init.init_weights`, seeded)
and copies them into every framework's model, then feeds the **same** numpy batches in the
**same** order to every framework's trainer, with the **same** numpy dropout masks
(:func:`dropout_masks`). Every step of every framework is logged; every epoch ends with a
validation pass, ``metrics.csv`` / ``metrics.json`` / ``curves.png`` and an atomic checkpoint
from which ``resume=True`` continues bit-exactly (all randomness is keyed by
``(seed, epoch, batch)``, so the checkpoint's position *is* the RNG state).

:func:`train_crosscheck` is ``archdsl crosscheck --train-steps N``: N lock-step steps, then the
per-step loss differences, each node's parameter drift and the first node whose gradients
diverge.

Frameworks are plugged in through :class:`Framework`: a backend module
(``build``/``get_weights``/``forward``) plus its trainer module (``make_trainer``,
``CONVENTIONS``), whose trainers satisfy the :class:`Trainer` protocol. Nothing here imports a
framework at import time.

One module per concept:

=================  ===========================================================================
``errors``         :class:`TrainingError`, :class:`TrainingDivergedError`,
                   :class:`CheckpointError`
``trainer``        the :class:`Trainer` protocol and :class:`StepResult`
``frameworks``     :class:`Framework`, :func:`load_framework`, :func:`register_framework`,
                   the native-convention sets
``config``         the run's config (:func:`resolve_config`, :func:`override_config`) and its
                   :func:`config_hash`
``data``           :func:`prepare_data`: the dataset and the shared batch pipelines
``masks``          :func:`dropout_masks`: the one mask generator (nodes from ``Layer.stochastic``)
``loop``           :func:`start_session` and :class:`Lockstep`: the lock-step loop and its hooks
``checkpoints``    :func:`save_checkpoint`, :func:`load_checkpoint`, resume positions
``progress``       the progress bars and phase lines of ``archdsl train``
``outdir``         :func:`claim_output`: the output folder checked, locked, cleaned, never
                   emptied (a fresh ``run-N`` or ``overwrite``)
``monitor``        :class:`EarlyStopping` and :class:`BestCheckpoints` (best-k checkpoints)
``tensorboard``    TensorBoard event files, written without TensorFlow
``threads``        :func:`configure_threads`: OpenMP wait policy and thread counts
``outputs``        :class:`TrainResult` and the metrics files
``run``            :func:`run_training`
``compare``        :func:`lockstep_run` and the per-node gradient and weight differences
``crosscheck``     :func:`train_crosscheck` and :class:`TrainCheckReport`
=================  ===========================================================================

Example (needs both frameworks)::

    >>> import archdsl
    >>> from archdsl.training import run_training
    >>> g = archdsl.load("digits_cnn.yaml")  # doctest: +SKIP
    >>> r = run_training(g, None, out_dir="out/digits", epochs=2)  # doctest: +SKIP
    >>> r.final["torch"]["val_acc"], r.final["keras"]["val_acc"]  # doctest: +SKIP
    (0.9415, 0.9415)
"""

from __future__ import annotations

from archdsl.training.checkpoints import (
    CHECKPOINT_FORMAT,
    Position,
    load_checkpoint,
    save_checkpoint,
)
from archdsl.training.compare import (
    GRAD_TOLERANCE,
    LockstepRun,
    grad_rel_diffs,
    lockstep_run,
    weight_rel_diffs,
)
from archdsl.training.config import config_hash, override_config, resolve_config
from archdsl.training.crosscheck import (
    LOSS_TOLERANCE,
    PARTED,
    TrainCheckReport,
    choice_nodes,
    train_crosscheck,
)
from archdsl.training.data import EVAL_BATCH_SIZE, TrainData, check_fits, prepare_data
from archdsl.training.errors import CheckpointError, TrainingDivergedError, TrainingError
from archdsl.training.frameworks import (
    Framework,
    MakeTrainer,
    all_conventions,
    load_framework,
    native_set,
    register_framework,
)
from archdsl.training.loop import (
    EpochEnd,
    Lockstep,
    LoopHooks,
    Session,
    StepEvent,
    check_finite,
    evaluate,
    nonfinite_result,
    schedule_lr,
    start_session,
)
from archdsl.training.masks import (
    MASK_STREAM,
    DropoutNode,
    dropout_masks,
    dropout_nodes,
    mask_multiplier,
    stochastic_types,
)
from archdsl.training.monitor import BestCheckpoints, EarlyStopping
from archdsl.training.outdir import RunFolder, claim_output
from archdsl.training.outputs import TrainResult
from archdsl.training.run import run_training
from archdsl.training.tensorboard import TensorBoardLog
from archdsl.training.threads import configure_threads
from archdsl.training.trainer import StepResult, Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
    "EVAL_BATCH_SIZE",
    "GRAD_TOLERANCE",
    "LOSS_TOLERANCE",
    "MASK_STREAM",
    "PARTED",
    "BestCheckpoints",
    "CheckpointError",
    "DropoutNode",
    "EarlyStopping",
    "EpochEnd",
    "Framework",
    "Lockstep",
    "LockstepRun",
    "LoopHooks",
    "MakeTrainer",
    "Position",
    "RunFolder",
    "Session",
    "StepEvent",
    "StepResult",
    "TensorBoardLog",
    "TrainCheckReport",
    "TrainData",
    "TrainResult",
    "Trainer",
    "TrainingDivergedError",
    "TrainingError",
    "all_conventions",
    "check_finite",
    "check_fits",
    "choice_nodes",
    "claim_output",
    "config_hash",
    "configure_threads",
    "dropout_masks",
    "dropout_nodes",
    "evaluate",
    "grad_rel_diffs",
    "load_checkpoint",
    "load_framework",
    "lockstep_run",
    "mask_multiplier",
    "native_set",
    "nonfinite_result",
    "override_config",
    "prepare_data",
    "register_framework",
    "resolve_config",
    "run_training",
    "save_checkpoint",
    "schedule_lr",
    "start_session",
    "stochastic_types",
    "train_crosscheck",
    "weight_rel_diffs",
]
