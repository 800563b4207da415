"""Units, time and the error tree: the layer everything else stands on."""
