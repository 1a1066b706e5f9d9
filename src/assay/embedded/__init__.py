"""The in-process implementations of the service interfaces, over the SQL store and the artifact store.

``tracking.TrackingService`` implements ``assay.services.tracking.Tracking``; ``access.AccessService``
authenticates tokens and holds the role rules (``assay.services.access.Authorizer``), and
``access.ScopedAccess`` implements ``assay.services.access.Access`` for one caller.
"""
