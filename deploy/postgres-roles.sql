-- The compose stack's database roles (docs/security.md, "The database roles"): the API and the worker log in as
-- storage_service, a member of storage_app, which migration 20261206000013 grants what the service
-- needs and nothing more. The password matches docker-compose.yml; change both for anything but local use.
CREATE ROLE storage_app NOLOGIN;
CREATE ROLE storage_service LOGIN PASSWORD 'storage-service' IN ROLE storage_app;
