"""Context injection: the XML block (and the same data as JSON) an agent puts in its prompt."""
