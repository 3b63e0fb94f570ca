"""The model store: the installed models (`store`), the published ones known by name
(`catalog`) and the download or copy that brings one in (`fetch`)."""
