-- Change data capture for the ERP reference schema on SQL Server (run after erp_schema.sql).
-- Needs SQL Server Agent running (CDC capture and cleanup jobs) and sysadmin for sp_cdc_enable_db.
--
-- @role_name = NULL: reading the change tables is not gated by an extra database role; access is
-- limited to the connector's login below (db_datareader on this database only).
-- The connector's password comes from the environment of whoever runs this script via sqlcmd
-- scripting variables: sqlcmd -v CONNECTOR_PASSWORD="..." -i enable_cdc.sql (never commit it).
-- Idempotent: safe to run again.

USE erp;
GO
IF (SELECT is_cdc_enabled FROM sys.databases WHERE name = N'erp') = 0
    EXEC sys.sp_cdc_enable_db;
GO

IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.mandant'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'mandant', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.property'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'property', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.building'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'building', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.unit'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'unit', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.person_type'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'person_type', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.person'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'person', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.contract'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'contract', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.contract_party'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'contract_party', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.property_owner'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'property_owner', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.caretaker'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'caretaker', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.staff_user'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'staff_user', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.team'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'team', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.team_member'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'team_member', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.property_user'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'property_user', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.document_type'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'document_type', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.document'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'document', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket_type'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket_type', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket_status'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket_status', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket_priority'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket_priority', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket_note'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket_note', @role_name = NULL, @supports_net_changes = 0;
GO
IF NOT EXISTS (SELECT 1 FROM cdc.change_tables WHERE source_object_id = OBJECT_ID(N'erp.ticket_document'))
    EXEC sys.sp_cdc_enable_table @source_schema = N'erp', @source_name = N'ticket_document', @role_name = NULL, @supports_net_changes = 0;
GO

-- Login and user of the Debezium connector (SQL authentication), read-only.
IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'debezium')
    CREATE LOGIN debezium WITH PASSWORD = N'$(CONNECTOR_PASSWORD)', CHECK_POLICY = ON;
GO
IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE name = N'debezium')
    CREATE USER debezium FOR LOGIN debezium;
GO
ALTER ROLE db_datareader ADD MEMBER debezium;
GO
