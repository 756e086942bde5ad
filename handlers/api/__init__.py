"""The REST API (`/api/v1/...`): start, read and complete verifications; the clearance gate."""
