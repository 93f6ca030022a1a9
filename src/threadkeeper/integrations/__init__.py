"""Drop-ins that put other tools' conversation memory in threadkeeper (see `pal`)."""
