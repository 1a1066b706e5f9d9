"""What the API routes (``assay.server``) and the pages (``assay.ui``) share: the request's caller, and
the services bound to that caller. Both packages import this one; neither imports the other (the server
mounts the UI's router)."""
