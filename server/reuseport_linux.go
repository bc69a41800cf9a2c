package server

// soReusePort is Linux's SO_REUSEPORT (the syscall package does not name it).
const soReusePort = 0xf
