-- Issue 5: a list page filtered by type and last_status_change_from without sorting every
-- match.
--
-- Such a page used to walk devices_type (type_id, id) in id order and read each device's
-- row to check the range (~50-100 ms at 1M devices, 60,000 matches), or find the matches
-- by the range in devices_type_active_since and sort all their ids (~5-10 ms). This index
-- holds, per type in id order, every column a list filter checks: the walk reads nothing
-- else and stops after offset + limit matches (~2-3 ms). The store picks between the two
-- plans by how many devices match (Store::with_list_sort_threshold). devices_type is its
-- prefix and goes.
CREATE INDEX devices_type_walk ON devices (type_id, id, is_active, status, status_change, organization_id);
DROP INDEX devices_type;
