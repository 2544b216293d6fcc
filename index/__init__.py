"""Indexes over the stored chunks: dense (FAISS), lexical (BM25), fused; versioned snapshots."""
