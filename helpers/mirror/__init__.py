"""Building the offline release mirror from source (Go module proxy, Debian, gcc)."""
