"""sis-sync: Clever roster sync that holds dangerous changes for a district admin to review."""
