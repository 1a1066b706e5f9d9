"""The model registry's pure parts: its entities, ``models:/`` URIs and promotion rules.

No I/O here. The service interface is ``assay.services.registry``; its storage ``assay.store.sql.registry``.
"""
