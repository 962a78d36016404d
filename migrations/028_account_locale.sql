-- The language an account reads the console and family page in. NULL: follow the browser's
-- Accept-Language, and Chinese when it names neither supported language.
ALTER TABLE accounts
    ADD COLUMN locale text CHECK (locale IN ('zh_CN', 'en'));
