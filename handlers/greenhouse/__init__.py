"""The Greenhouse web hook (`POST /hooks/greenhouse`)."""
