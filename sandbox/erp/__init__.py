"""The ERP stand-in (NetSuite-style SuiteQL REST and a journal import) and the VIES check.

`create_app(world_dir, faults)` builds the Starlette app over `world_dir / "erp.sqlite"`;
see `sandbox.erp.app` for the endpoints, `sandbox.erp.suiteql` for the query subset,
`sandbox.erp.journal_import` for the import file and `sandbox.erp.faults` for fault names.
"""

from sandbox.erp.app import create_app

__all__ = ["create_app"]
