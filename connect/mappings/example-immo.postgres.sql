-- The tables of the example ERP profile (connect/mappings/example-immo.yaml) for the local
-- PostgreSQL stand-in: the ERP's own names, codes and keys. REPLICA IDENTITY FULL gives
-- Debezium the whole old row on updates and deletes.
CREATE SCHEMA IF NOT EXISTS immo;

CREATE TABLE IF NOT EXISTS immo.mandant (
    mandant_nr  integer PRIMARY KEY,
    firmenname  text
);
CREATE TABLE IF NOT EXISTS immo.objekt (
    obj_id         integer PRIMARY KEY,
    mandant_nr     integer NOT NULL,
    obj_nr         varchar(20) NOT NULL,
    bezeichnung    varchar(100),
    objektgruppe   varchar(40),
    strasse        varchar(100),
    plz            varchar(10),
    ort            varchar(60),
    verwaltung_ab  date,
    verwaltung_bis date,
    team_nr        integer
);
CREATE TABLE IF NOT EXISTS immo.gebaeude (
    geb_id   integer PRIMARY KEY,
    obj_id   integer NOT NULL,
    strasse  varchar(100),
    hausnr   varchar(10),
    plz      varchar(10),
    ort      varchar(60)
);
CREATE TABLE IF NOT EXISTS immo.einheit (
    obj_id       integer NOT NULL,
    einh_nr      varchar(20) NOT NULL,
    geb_id       integer,
    lage         varchar(100),
    nutzungsart  char(1),
    einh_art     char(1) NOT NULL DEFAULT 'R',
    wohnflaeche  numeric(10, 2),
    geschoss     varchar(10),
    zimmer       numeric(4, 1),
    gueltig_ab   date,
    gueltig_bis  date,
    PRIMARY KEY (obj_id, einh_nr)
);
CREATE TABLE IF NOT EXISTS immo.personentyp (
    typ_kz       varchar(10) PRIMARY KEY,
    bezeichnung  varchar(60)
);
CREATE TABLE IF NOT EXISTS immo.person (
    pers_id          integer PRIMARY KEY,
    pers_nr          varchar(20) NOT NULL,
    typ_kz           varchar(10),
    anrede           varchar(20),
    titel            varchar(40),
    vorname          varchar(60),
    nachname         varchar(100),
    firma            varchar(100),
    email            varchar(254),
    telefon          varchar(40),
    mobil            varchar(40),
    strasse          varchar(100),
    plz              varchar(10),
    ort              varchar(60),
    land             varchar(2),
    iban             varchar(34),
    bic              varchar(11),
    kontoinhaber     varchar(100),
    anonymisiert_am  timestamptz
);
CREATE TABLE IF NOT EXISTS immo.vertrag (
    vertrag_id   integer PRIMARY KEY,
    vertrag_nr   varchar(20) NOT NULL,
    vertragsart  char(1) NOT NULL,
    obj_id       integer NOT NULL,
    einh_nr      varchar(20) NOT NULL,
    pers_id      integer NOT NULL,
    beginn       date,
    ende         date,
    sollmiete    numeric(12, 2),
    kaution      numeric(12, 2),
    status       char(1) NOT NULL DEFAULT 'A'
);
CREATE TABLE IF NOT EXISTS immo.vertragspartner (
    vertrag_id  integer NOT NULL,
    pers_id     integer NOT NULL,
    rolle       varchar(2) NOT NULL,
    PRIMARY KEY (vertrag_id, pers_id)
);

ALTER TABLE immo.mandant REPLICA IDENTITY FULL;
ALTER TABLE immo.objekt REPLICA IDENTITY FULL;
ALTER TABLE immo.gebaeude REPLICA IDENTITY FULL;
ALTER TABLE immo.einheit REPLICA IDENTITY FULL;
ALTER TABLE immo.personentyp REPLICA IDENTITY FULL;
ALTER TABLE immo.person REPLICA IDENTITY FULL;
ALTER TABLE immo.vertrag REPLICA IDENTITY FULL;
ALTER TABLE immo.vertragspartner REPLICA IDENTITY FULL;
