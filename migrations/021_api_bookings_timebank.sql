-- Service bookings and the time bank (double-entry ledger in minutes).
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE service_catalog (
    service       text PRIMARY KEY,    -- the band's service_request codes
    name          text NOT NULL,
    duration_min  integer NOT NULL CHECK (duration_min > 0)
);
INSERT INTO service_catalog (service, name, duration_min) VALUES
    ('meal', 'Meal delivery', 30),
    ('haircut', 'Haircut', 45),
    ('housekeeping', 'Housekeeping', 120),
    ('escort', 'Escort to hospital', 180);

CREATE TABLE providers (
    provider_id  bigserial PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('company', 'volunteer')),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    account_id   bigint UNIQUE REFERENCES accounts (account_id),
    CHECK ((kind = 'volunteer') = (account_id IS NOT NULL))
);

CREATE TABLE bookings (
    booking_id      bigserial PRIMARY KEY,
    resident_id     bigint NOT NULL REFERENCES residents (resident_id) ON DELETE CASCADE,
    service         text NOT NULL REFERENCES service_catalog (service),
    provider_id     bigint REFERENCES providers (provider_id),
    slot            tstzrange,
    status          text NOT NULL DEFAULT 'requested' CHECK (status IN
                        ('requested', 'confirmed', 'in_progress', 'completed', 'cancelled')),
    source          text NOT NULL CHECK (source IN ('staff', 'family', 'band')),
    created_by      bigint REFERENCES accounts (account_id),
    device_id       text,
    event_id        text,
    requested_at    timestamptz NOT NULL DEFAULT now(),
    note            text NOT NULL DEFAULT '' CHECK (length(note) <= 500),
    completion_confirmed_at  timestamptz,
    completion_confirmed_by  bigint REFERENCES accounts (account_id),
    confirmed_on_behalf      boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (source <> 'band' OR (device_id IS NOT NULL AND event_id IS NOT NULL)),
    CHECK (status IN ('requested', 'cancelled') OR (provider_id IS NOT NULL AND slot IS NOT NULL)),
    -- No provider is booked twice for overlapping time.
    EXCLUDE USING gist (provider_id WITH =, slot WITH &&) WHERE (status <> 'cancelled')
);
CREATE UNIQUE INDEX bookings_band_event_key ON bookings (device_id, event_id)
    WHERE device_id IS NOT NULL;
CREATE INDEX bookings_resident_idx ON bookings (resident_id, requested_at);
CREATE INDEX bookings_provider_idx ON bookings (provider_id);

-- Ledger accounts: one per volunteer account, one per resident, and the system's
-- issuance account (the only one allowed below zero: it mints earned minutes).
CREATE TABLE tb_accounts (
    tb_account_id  bigserial PRIMARY KEY,
    kind           text NOT NULL CHECK (kind IN ('system', 'member', 'resident')),
    account_id     bigint UNIQUE REFERENCES accounts (account_id),
    resident_id    bigint UNIQUE REFERENCES residents (resident_id),
    balance_min    bigint NOT NULL DEFAULT 0,
    CHECK (kind = 'system' OR balance_min >= 0),
    CHECK ((kind = 'member') = (account_id IS NOT NULL)),
    CHECK ((kind = 'resident') = (resident_id IS NOT NULL))
);
CREATE UNIQUE INDEX tb_accounts_one_system ON tb_accounts (kind) WHERE kind = 'system';
INSERT INTO tb_accounts (kind) VALUES ('system');

CREATE TABLE tb_transactions (
    txn_id           bigserial PRIMARY KEY,
    idempotency_key  text NOT NULL UNIQUE CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    kind             text NOT NULL CHECK (kind IN ('earn', 'redeem', 'donate')),
    author_id        bigint NOT NULL REFERENCES accounts (account_id),
    on_behalf_of     bigint REFERENCES residents (resident_id),
    booking_id       bigint REFERENCES bookings (booking_id),
    memo             text NOT NULL DEFAULT '' CHECK (length(memo) <= 200),
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- A booking earns its volunteer minutes once and is paid for once.
CREATE UNIQUE INDEX tb_transactions_booking_once ON tb_transactions (booking_id, kind)
    WHERE kind IN ('earn', 'redeem');

CREATE TABLE tb_entries (
    entry_id       bigserial PRIMARY KEY,
    txn_id         bigint NOT NULL REFERENCES tb_transactions (txn_id),
    tb_account_id  bigint NOT NULL REFERENCES tb_accounts (tb_account_id),
    amount_min     bigint NOT NULL CHECK (amount_min <> 0)
);
CREATE INDEX tb_entries_account_idx ON tb_entries (tb_account_id, entry_id);
CREATE INDEX tb_entries_txn_idx ON tb_entries (txn_id);

-- A transaction's entries sum to zero, checked at commit.
CREATE FUNCTION tb_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount_min), 0) FROM tb_entries WHERE txn_id = NEW.txn_id) <> 0 THEN
        RAISE EXCEPTION 'time-bank transaction % is unbalanced', NEW.txn_id;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER tb_entries_balanced AFTER INSERT ON tb_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tb_check_balanced();
