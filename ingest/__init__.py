"""Ingestion: read sources, extract main content into sections, chunk, and store."""
