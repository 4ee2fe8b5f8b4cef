"""Operations: audit log, metrics, request logging."""
