-- q2c warehouse roles on PostgreSQL (applied by `q2c warehouse roles apply`; rerunnable).
--
--   q2c_loader       writes raw and ops (the extractors, the outboxes, the audit trail)
--   q2c_transformer  reads raw, writes the modeled schemas (dbt)
--   q2c_analyst      reads marts only, column by column: the command grants every marts column
--                    whose name is not a key of the contract's sensitivity classes
--   q2c_finance      reads reconciliation, marts, exports and the ops tables the reports read
--
-- The roles are NOLOGIN groups: grant them to login users (`GRANT q2c_analyst TO alice`).
-- dbt recreates its tables on each build, which drops table grants: once the roles exist, the
-- dbt asset grants them again after every build (`q2c warehouse roles apply` does it by hand;
-- default privileges cover tables created by the role owner).
-- Embedded DuckDB has no roles at all (single user, whoever can read the file reads everything).

DO $$
DECLARE r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['q2c_loader', 'q2c_transformer', 'q2c_analyst', 'q2c_finance'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END $$;

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS intermediate;
CREATE SCHEMA IF NOT EXISTS snapshots;
CREATE SCHEMA IF NOT EXISTS policy;
CREATE SCHEMA IF NOT EXISTS marts;
CREATE SCHEMA IF NOT EXISTS reconciliation;
CREATE SCHEMA IF NOT EXISTS exports;
CREATE SCHEMA IF NOT EXISTS sync;

-- nobody reads or creates anything by default
REVOKE ALL ON SCHEMA public FROM PUBLIC;
REVOKE ALL ON SCHEMA raw, ops, staging, intermediate, snapshots, policy, marts, reconciliation,
  exports, sync FROM PUBLIC;

-- loader: raw and ops
GRANT USAGE, CREATE ON SCHEMA raw, ops TO q2c_loader;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA raw, ops TO q2c_loader;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw, ops
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO q2c_loader;

-- transformer: reads raw (and the ops tables the models read), owns the modeled schemas
GRANT USAGE ON SCHEMA raw, ops TO q2c_transformer;
GRANT SELECT ON ALL TABLES IN SCHEMA raw, ops TO q2c_transformer;
ALTER DEFAULT PRIVILEGES IN SCHEMA raw, ops GRANT SELECT ON TABLES TO q2c_transformer;
GRANT USAGE, CREATE ON SCHEMA staging, intermediate, snapshots, policy, marts, reconciliation,
  exports, sync TO q2c_transformer;
GRANT ALL ON ALL TABLES IN SCHEMA staging, intermediate, snapshots, policy, marts,
  reconciliation, exports, sync TO q2c_transformer;

-- finance: the reconciliation, the marts, the exports and the report's ops inputs
GRANT USAGE ON SCHEMA reconciliation, marts, exports, ops TO q2c_finance;
GRANT SELECT ON ALL TABLES IN SCHEMA reconciliation, marts, exports TO q2c_finance;
ALTER DEFAULT PRIVILEGES IN SCHEMA reconciliation, marts, exports
  GRANT SELECT ON TABLES TO q2c_finance;

-- analyst: the marts schema only; its column grants come from the command
REVOKE ALL ON ALL TABLES IN SCHEMA raw, ops, staging, intermediate, snapshots, policy,
  reconciliation, exports, sync FROM q2c_analyst;
REVOKE ALL ON SCHEMA raw, ops, staging, intermediate, snapshots, policy, reconciliation,
  exports, sync FROM q2c_analyst;
GRANT USAGE ON SCHEMA marts TO q2c_analyst;
