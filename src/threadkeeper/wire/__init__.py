"""The API's wire format: shapes declared once (shapes), decoding and checks (decode)."""
