-- Issue 5: list counts that stay index-only, and tokens for several organizations.

-- The list's COUNT with organization + status + is_active reads only this index; the page
-- itself keeps using devices_organization (organization_id, status, id) for its id order.
CREATE INDEX devices_organization_active ON devices (organization_id, status, is_active);
-- status + is_active without an organization (dashboards of the whole fleet).
CREATE INDEX devices_status_active ON devices (status, is_active);
-- type + is_active + last_status_change_from: without it the page walks devices_type in id
-- order past every older device of the type (~100 ms at 1M); with it the matches are found
-- directly and only they are sorted (~10 ms), and the count is index-only.
CREATE INDEX devices_type_active_since ON devices (type_id, is_active, status_change);

-- The organizations a scoped token may reach. api_tokens.organization_id keeps the first of
-- them (its CHECK still holds); this table is the whole scope.
CREATE TABLE api_token_organizations (
    token_id        BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    organization_id BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    PRIMARY KEY (token_id, organization_id)
);
CREATE INDEX api_token_organizations_organization ON api_token_organizations (organization_id);
INSERT INTO api_token_organizations (token_id, organization_id)
    SELECT id, organization_id FROM api_tokens WHERE organization_id IS NOT NULL AND NOT is_admin;
