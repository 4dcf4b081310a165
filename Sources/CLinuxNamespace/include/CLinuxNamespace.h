#ifndef KEELSON_CLINUXNAMESPACE_H
#define KEELSON_CLINUXNAMESPACE_H

/// Moves the calling thread into the network namespace open at `fd` (setns with CLONE_NEWNET), which the C
/// library declares only under _GNU_SOURCE. Returns 0, or -1 with errno set.
int keelson_enter_network_namespace(int fd);

#endif
