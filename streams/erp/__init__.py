"""The ERP reference schema (the bridge's input contract) and typed ERP rows."""
