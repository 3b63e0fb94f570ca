"""Events: the rules that turn camera predictions into events (`rules`) and the history that
keeps them on disk (`store`)."""
