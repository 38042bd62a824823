"""Privacy at the door: keyed pseudonyms and the encrypted identity vault."""
