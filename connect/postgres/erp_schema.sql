-- ERP reference schema (erp-reference-schema.md) for PostgreSQL, the local and CI
-- stand-in for the ERP's SQL Server. Applied by `bridge stack up` as the stack's login role, which
-- then owns every table. Idempotent: safe to run again.
--
-- No foreign keys: the bridge copes with any arrival order, and test data may do the same.
-- REPLICA IDENTITY FULL: an UPDATE or DELETE event carries the complete before row. The tables
-- with large content (document, ticket, ticket_note) keep the DEFAULT identity, as an ERP would
-- to keep its write-ahead log small: their updates carry no before row, and an unchanged
-- TOASTed column (document content, ticket text) arrives as Debezium's unavailable-value
-- placeholder, which the bridge completes from the value it holds.
-- Publication casavi_bridge_erp lists exactly these tables (Debezium: publication.autocreate.mode=filtered).

CREATE SCHEMA IF NOT EXISTS erp;

-- Mandant: client company
CREATE TABLE IF NOT EXISTS erp.mandant (
    mandant_no int NOT NULL,
    name text,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT mandant_pkey PRIMARY KEY (mandant_no)
);
ALTER TABLE erp.mandant REPLICA IDENTITY FULL;

-- Objekt / Wirtschaftseinheit
CREATE TABLE IF NOT EXISTS erp.property (
    property_id int NOT NULL,
    mandant_no int,
    property_no varchar(20),
    name text,
    property_group text,
    street text,
    postal_code varchar(10),
    city text,
    country text,
    management_start date,
    management_end date,
    team_id int,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT property_pkey PRIMARY KEY (property_id)
);
ALTER TABLE erp.property REPLICA IDENTITY FULL;

-- Gebäude
CREATE TABLE IF NOT EXISTS erp.building (
    building_id int NOT NULL,
    property_id int,
    street text,
    house_no varchar(10),
    postal_code varchar(10),
    city text,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT building_pkey PRIMARY KEY (building_id)
);
ALTER TABLE erp.building REPLICA IDENTITY FULL;

-- Fläche / Verwaltungseinheit
CREATE TABLE IF NOT EXISTS erp.unit (
    unit_id int NOT NULL,
    property_id int,
    building_id int,
    unit_no varchar(20),
    name text,
    usage varchar(20),
    area numeric(10,2),
    floor varchar(10),
    rooms numeric(4,1),
    valid_from date,
    valid_to date,
    is_phantom boolean,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT unit_pkey PRIMARY KEY (unit_id)
);
ALTER TABLE erp.unit REPLICA IDENTITY FULL;

-- Personentyp
CREATE TABLE IF NOT EXISTS erp.person_type (
    person_type_code varchar(10) NOT NULL,
    name text,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT person_type_pkey PRIMARY KEY (person_type_code)
);
ALTER TABLE erp.person_type REPLICA IDENTITY FULL;

-- Person
CREATE TABLE IF NOT EXISTS erp.person (
    person_id int NOT NULL,
    person_no varchar(20),
    person_type_code varchar(10),
    salutation text,
    title text,
    first_name text,
    last_name text,
    company text,
    email text,
    phone text,
    mobile text,
    street text,
    postal_code varchar(10),
    city text,
    country text,
    iban varchar(34),
    bic varchar(11),
    account_holder text,
    anonymized_at timestamptz,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT person_pkey PRIMARY KEY (person_id)
);
ALTER TABLE erp.person REPLICA IDENTITY FULL;

-- Mietvertrag / Eigentümervertrag
CREATE TABLE IF NOT EXISTS erp.contract (
    contract_id int NOT NULL,
    contract_no varchar(20),
    contract_type varchar(10),
    property_id int,
    unit_id int,
    person_id int,
    start_date date,
    end_date date,
    rent_amount numeric(12,2),
    deposit_amount numeric(12,2),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT contract_pkey PRIMARY KEY (contract_id)
);
ALTER TABLE erp.contract REPLICA IDENTITY FULL;

-- Mitbewohner / Vertragspartner
CREATE TABLE IF NOT EXISTS erp.contract_party (
    contract_id int NOT NULL,
    person_id int NOT NULL,
    role varchar(12),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT contract_party_pkey PRIMARY KEY (contract_id, person_id)
);
ALTER TABLE erp.contract_party REPLICA IDENTITY FULL;

-- Objekteigentümer
CREATE TABLE IF NOT EXISTS erp.property_owner (
    property_id int NOT NULL,
    person_id int NOT NULL,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT property_owner_pkey PRIMARY KEY (property_id, person_id)
);
ALTER TABLE erp.property_owner REPLICA IDENTITY FULL;

-- Hausmeister
CREATE TABLE IF NOT EXISTS erp.caretaker (
    property_id int NOT NULL,
    person_id int NOT NULL,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT caretaker_pkey PRIMARY KEY (property_id, person_id)
);
ALTER TABLE erp.caretaker REPLICA IDENTITY FULL;

-- Benutzer
CREATE TABLE IF NOT EXISTS erp.staff_user (
    user_id int NOT NULL,
    user_no char(3),
    first_name text,
    last_name text,
    email text,
    phone text,
    active boolean,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT staff_user_pkey PRIMARY KEY (user_id)
);
ALTER TABLE erp.staff_user REPLICA IDENTITY FULL;

-- Benutzerteam
CREATE TABLE IF NOT EXISTS erp.team (
    team_id int NOT NULL,
    name text,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT team_pkey PRIMARY KEY (team_id)
);
ALTER TABLE erp.team REPLICA IDENTITY FULL;

-- team membership
CREATE TABLE IF NOT EXISTS erp.team_member (
    team_id int NOT NULL,
    user_id int NOT NULL,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT team_member_pkey PRIMARY KEY (team_id, user_id)
);
ALTER TABLE erp.team_member REPLICA IDENTITY FULL;

-- Objektrechte / Objektverantwortliche
CREATE TABLE IF NOT EXISTS erp.property_user (
    property_id int NOT NULL,
    user_id int NOT NULL,
    is_responsible boolean,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT property_user_pkey PRIMARY KEY (property_id, user_id)
);
ALTER TABLE erp.property_user REPLICA IDENTITY FULL;

-- Dokumententyp / Dokumentenklasse
CREATE TABLE IF NOT EXISTS erp.document_type (
    document_type_code varchar(10) NOT NULL,
    name text,
    document_class text,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT document_type_pkey PRIMARY KEY (document_type_code)
);
ALTER TABLE erp.document_type REPLICA IDENTITY FULL;

-- Dokument
CREATE TABLE IF NOT EXISTS erp.document (
    document_id int NOT NULL,
    property_id int,
    unit_id int,
    contract_id int,
    person_id int,
    document_type_code varchar(10),
    name text,
    mime_type text,
    created_at timestamptz,
    released boolean,
    content bytea,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT document_pkey PRIMARY KEY (document_id)
);
ALTER TABLE erp.document REPLICA IDENTITY DEFAULT;

-- Meldungsart
CREATE TABLE IF NOT EXISTS erp.ticket_type (
    ticket_type_code varchar(10) NOT NULL,
    name text,
    portal_mode varchar(10),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_type_pkey PRIMARY KEY (ticket_type_code)
);
ALTER TABLE erp.ticket_type REPLICA IDENTITY FULL;

-- Meldungsstatus
CREATE TABLE IF NOT EXISTS erp.ticket_status (
    status_code varchar(10) NOT NULL,
    name text,
    status_kind varchar(12),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_status_pkey PRIMARY KEY (status_code)
);
ALTER TABLE erp.ticket_status REPLICA IDENTITY FULL;

-- Meldungspriorität
CREATE TABLE IF NOT EXISTS erp.ticket_priority (
    priority_code varchar(10) NOT NULL,
    name text,
    rank int,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_priority_pkey PRIMARY KEY (priority_code)
);
ALTER TABLE erp.ticket_priority REPLICA IDENTITY FULL;

-- Meldung
CREATE TABLE IF NOT EXISTS erp.ticket (
    ticket_id int NOT NULL,
    ticket_no int,
    ticket_type_code varchar(10),
    subject text,
    description text,
    hint1 text,
    hint2 text,
    reporter_person_id int,
    trade text,
    reported_at timestamptz,
    property_id int,
    unit_id int,
    technical_object text,
    responsible_user_id int,
    responsible_team_id int,
    due_from date,
    due_to date,
    status_code varchar(10),
    priority_code varchar(10),
    origin varchar(10),
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_pkey PRIMARY KEY (ticket_id)
);
ALTER TABLE erp.ticket REPLICA IDENTITY DEFAULT;

-- Meldungsnotiz
CREATE TABLE IF NOT EXISTS erp.ticket_note (
    note_id int NOT NULL,
    ticket_id int,
    author text,
    created_at timestamptz,
    content text,
    is_internal boolean,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_note_pkey PRIMARY KEY (note_id)
);
ALTER TABLE erp.ticket_note REPLICA IDENTITY DEFAULT;

-- Meldungsdokument
CREATE TABLE IF NOT EXISTS erp.ticket_document (
    ticket_id int NOT NULL,
    document_id int NOT NULL,
    updated_at timestamptz DEFAULT now(),
    CONSTRAINT ticket_document_pkey PRIMARY KEY (ticket_id, document_id)
);
ALTER TABLE erp.ticket_document REPLICA IDENTITY FULL;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'casavi_bridge_erp') THEN
        CREATE PUBLICATION casavi_bridge_erp FOR TABLE
            erp.mandant,
            erp.property,
            erp.building,
            erp.unit,
            erp.person_type,
            erp.person,
            erp.contract,
            erp.contract_party,
            erp.property_owner,
            erp.caretaker,
            erp.staff_user,
            erp.team,
            erp.team_member,
            erp.property_user,
            erp.document_type,
            erp.document,
            erp.ticket_type,
            erp.ticket_status,
            erp.ticket_priority,
            erp.ticket,
            erp.ticket_note,
            erp.ticket_document;
    END IF;
END
$$;
