-- ERP reference schema (erp-reference-schema.md) for SQL Server 2019+, the production source.
-- Types: text -> nvarchar(n) with the lengths an ERP uses (nvarchar(max) only for large text: ticket
-- description and hints, note content), timestamptz -> datetime2, numeric -> decimal, boolean -> bit,
-- bytea -> varbinary(max); varchar/char/int/date as written. Then run enable_cdc.sql.
-- Idempotent: safe to run again.

IF DB_ID(N'erp') IS NULL CREATE DATABASE erp;
GO
USE erp;
GO
IF SCHEMA_ID(N'erp') IS NULL EXEC (N'CREATE SCHEMA erp');
GO

-- Mandant: client company
IF OBJECT_ID(N'erp.mandant', N'U') IS NULL
CREATE TABLE erp.[mandant] (
    [mandant_no] int NOT NULL,
    [name] nvarchar(100),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_mandant] PRIMARY KEY ([mandant_no])
);
GO

-- Objekt / Wirtschaftseinheit
IF OBJECT_ID(N'erp.property', N'U') IS NULL
CREATE TABLE erp.[property] (
    [property_id] int NOT NULL,
    [mandant_no] int,
    [property_no] varchar(20),
    [name] nvarchar(100),
    [property_group] nvarchar(40),
    [street] nvarchar(100),
    [postal_code] varchar(10),
    [city] nvarchar(60),
    [country] nvarchar(60),
    [management_start] date,
    [management_end] date,
    [team_id] int,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_property] PRIMARY KEY ([property_id])
);
GO

-- Gebäude
IF OBJECT_ID(N'erp.building', N'U') IS NULL
CREATE TABLE erp.[building] (
    [building_id] int NOT NULL,
    [property_id] int,
    [street] nvarchar(100),
    [house_no] varchar(10),
    [postal_code] varchar(10),
    [city] nvarchar(60),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_building] PRIMARY KEY ([building_id])
);
GO

-- Fläche / Verwaltungseinheit
IF OBJECT_ID(N'erp.unit', N'U') IS NULL
CREATE TABLE erp.[unit] (
    [unit_id] int NOT NULL,
    [property_id] int,
    [building_id] int,
    [unit_no] varchar(20),
    [name] nvarchar(100),
    [usage] varchar(20),
    [area] decimal(10,2),
    [floor] varchar(10),
    [rooms] decimal(4,1),
    [valid_from] date,
    [valid_to] date,
    [is_phantom] bit,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_unit] PRIMARY KEY ([unit_id])
);
GO

-- Personentyp
IF OBJECT_ID(N'erp.person_type', N'U') IS NULL
CREATE TABLE erp.[person_type] (
    [person_type_code] varchar(10) NOT NULL,
    [name] nvarchar(100),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_person_type] PRIMARY KEY ([person_type_code])
);
GO

-- Person
IF OBJECT_ID(N'erp.person', N'U') IS NULL
CREATE TABLE erp.[person] (
    [person_id] int NOT NULL,
    [person_no] varchar(20),
    [person_type_code] varchar(10),
    [salutation] nvarchar(20),
    [title] nvarchar(40),
    [first_name] nvarchar(60),
    [last_name] nvarchar(100),
    [company] nvarchar(100),
    [email] nvarchar(254),
    [phone] nvarchar(40),
    [mobile] nvarchar(40),
    [street] nvarchar(100),
    [postal_code] varchar(10),
    [city] nvarchar(60),
    [country] nvarchar(60),
    [iban] varchar(34),
    [bic] varchar(11),
    [account_holder] nvarchar(100),
    [anonymized_at] datetime2,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_person] PRIMARY KEY ([person_id])
);
GO

-- Mietvertrag / Eigentümervertrag
IF OBJECT_ID(N'erp.contract', N'U') IS NULL
CREATE TABLE erp.[contract] (
    [contract_id] int NOT NULL,
    [contract_no] varchar(20),
    [contract_type] varchar(10),
    [property_id] int,
    [unit_id] int,
    [person_id] int,
    [start_date] date,
    [end_date] date,
    [rent_amount] decimal(12,2),
    [deposit_amount] decimal(12,2),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_contract] PRIMARY KEY ([contract_id])
);
GO

-- Mitbewohner / Vertragspartner
IF OBJECT_ID(N'erp.contract_party', N'U') IS NULL
CREATE TABLE erp.[contract_party] (
    [contract_id] int NOT NULL,
    [person_id] int NOT NULL,
    [role] varchar(12),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_contract_party] PRIMARY KEY ([contract_id], [person_id])
);
GO

-- Objekteigentümer
IF OBJECT_ID(N'erp.property_owner', N'U') IS NULL
CREATE TABLE erp.[property_owner] (
    [property_id] int NOT NULL,
    [person_id] int NOT NULL,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_property_owner] PRIMARY KEY ([property_id], [person_id])
);
GO

-- Hausmeister
IF OBJECT_ID(N'erp.caretaker', N'U') IS NULL
CREATE TABLE erp.[caretaker] (
    [property_id] int NOT NULL,
    [person_id] int NOT NULL,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_caretaker] PRIMARY KEY ([property_id], [person_id])
);
GO

-- Benutzer
IF OBJECT_ID(N'erp.staff_user', N'U') IS NULL
CREATE TABLE erp.[staff_user] (
    [user_id] int NOT NULL,
    [user_no] char(3),
    [first_name] nvarchar(60),
    [last_name] nvarchar(100),
    [email] nvarchar(254),
    [phone] nvarchar(40),
    [active] bit,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_staff_user] PRIMARY KEY ([user_id])
);
GO

-- Benutzerteam
IF OBJECT_ID(N'erp.team', N'U') IS NULL
CREATE TABLE erp.[team] (
    [team_id] int NOT NULL,
    [name] nvarchar(100),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_team] PRIMARY KEY ([team_id])
);
GO

-- team membership
IF OBJECT_ID(N'erp.team_member', N'U') IS NULL
CREATE TABLE erp.[team_member] (
    [team_id] int NOT NULL,
    [user_id] int NOT NULL,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_team_member] PRIMARY KEY ([team_id], [user_id])
);
GO

-- Objektrechte / Objektverantwortliche
IF OBJECT_ID(N'erp.property_user', N'U') IS NULL
CREATE TABLE erp.[property_user] (
    [property_id] int NOT NULL,
    [user_id] int NOT NULL,
    [is_responsible] bit,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_property_user] PRIMARY KEY ([property_id], [user_id])
);
GO

-- Dokumententyp / Dokumentenklasse
IF OBJECT_ID(N'erp.document_type', N'U') IS NULL
CREATE TABLE erp.[document_type] (
    [document_type_code] varchar(10) NOT NULL,
    [name] nvarchar(100),
    [document_class] nvarchar(60),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_document_type] PRIMARY KEY ([document_type_code])
);
GO

-- Dokument
IF OBJECT_ID(N'erp.document', N'U') IS NULL
CREATE TABLE erp.[document] (
    [document_id] int NOT NULL,
    [property_id] int,
    [unit_id] int,
    [contract_id] int,
    [person_id] int,
    [document_type_code] varchar(10),
    [name] nvarchar(100),
    [mime_type] nvarchar(100),
    [created_at] datetime2,
    [released] bit,
    [content] varbinary(max),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_document] PRIMARY KEY ([document_id])
);
GO

-- Meldungsart
IF OBJECT_ID(N'erp.ticket_type', N'U') IS NULL
CREATE TABLE erp.[ticket_type] (
    [ticket_type_code] varchar(10) NOT NULL,
    [name] nvarchar(100),
    [portal_mode] varchar(10),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket_type] PRIMARY KEY ([ticket_type_code])
);
GO

-- Meldungsstatus
IF OBJECT_ID(N'erp.ticket_status', N'U') IS NULL
CREATE TABLE erp.[ticket_status] (
    [status_code] varchar(10) NOT NULL,
    [name] nvarchar(100),
    [status_kind] varchar(12),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket_status] PRIMARY KEY ([status_code])
);
GO

-- Meldungspriorität
IF OBJECT_ID(N'erp.ticket_priority', N'U') IS NULL
CREATE TABLE erp.[ticket_priority] (
    [priority_code] varchar(10) NOT NULL,
    [name] nvarchar(100),
    [rank] int,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket_priority] PRIMARY KEY ([priority_code])
);
GO

-- Meldung
IF OBJECT_ID(N'erp.ticket', N'U') IS NULL
CREATE TABLE erp.[ticket] (
    [ticket_id] int NOT NULL,
    [ticket_no] int,
    [ticket_type_code] varchar(10),
    [subject] nvarchar(200),
    [description] nvarchar(max),
    [hint1] nvarchar(max),
    [hint2] nvarchar(max),
    [reporter_person_id] int,
    [trade] nvarchar(60),
    [reported_at] datetime2,
    [property_id] int,
    [unit_id] int,
    [technical_object] nvarchar(100),
    [responsible_user_id] int,
    [responsible_team_id] int,
    [due_from] date,
    [due_to] date,
    [status_code] varchar(10),
    [priority_code] varchar(10),
    [origin] varchar(10),
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket] PRIMARY KEY ([ticket_id])
);
GO

-- Meldungsnotiz
IF OBJECT_ID(N'erp.ticket_note', N'U') IS NULL
CREATE TABLE erp.[ticket_note] (
    [note_id] int NOT NULL,
    [ticket_id] int,
    [author] nvarchar(100),
    [created_at] datetime2,
    [content] nvarchar(max),
    [is_internal] bit,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket_note] PRIMARY KEY ([note_id])
);
GO

-- Meldungsdokument
IF OBJECT_ID(N'erp.ticket_document', N'U') IS NULL
CREATE TABLE erp.[ticket_document] (
    [ticket_id] int NOT NULL,
    [document_id] int NOT NULL,
    [updated_at] datetime2 DEFAULT SYSUTCDATETIME(),
    CONSTRAINT [PK_ticket_document] PRIMARY KEY ([ticket_id], [document_id])
);
GO
