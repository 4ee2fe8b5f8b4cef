"""Communities: desa/kelurahan and other admin units with their indicators."""
