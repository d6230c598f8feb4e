-- The credentials a CPE presents to the ACS (ManagementServer.Username/Password), kept apart
-- from the connection-request pair the ACS presents to the CPE (username/password_enc).
-- The password is sealed like password_enc (AES-GCM, the device uuid as associated data).
ALTER TABLE devices ADD COLUMN cwmp_username TEXT;
ALTER TABLE devices ADD COLUMN cwmp_password_enc BYTEA;
-- Until now a CPE authenticated with its serial number as username and the one stored
-- password: keep exactly that working (same row, same uuid, so the sealed bytes still open).
UPDATE devices SET cwmp_username = serial_number, cwmp_password_enc = password_enc
    WHERE password_enc IS NOT NULL;
CREATE UNIQUE INDEX devices_cwmp_username ON devices (cwmp_username)
    WHERE cwmp_username IS NOT NULL;
