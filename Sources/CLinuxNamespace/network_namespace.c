#define _GNU_SOURCE
#include <sched.h>
#include "CLinuxNamespace.h"

int keelson_enter_network_namespace(int fd) {
    return setns(fd, CLONE_NEWNET);
}
