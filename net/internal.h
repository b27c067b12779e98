/* What the files of net/ share and nothing outside it. */
#ifndef VCE_NET_INTERNAL_H
#define VCE_NET_INTERNAL_H

#include <stdbool.h>

/* A fresh non-blocking IPv4 socket from the helper, or -1. */
int net_helper_socket(int sock, bool udp);

#endif
