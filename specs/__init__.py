"""The shipped spec library: the chapter's models (``*.yaml``) and block libraries (``lib/``)."""
