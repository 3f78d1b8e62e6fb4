/*
 * The C half of the C-to-Rust round trip (ffi/examples/c_rtt.rs): pops each
 * u64 from the ring PING and pushes it back on PONG, busy (non-blocking
 * calls spun, as `shmlane bench`'s spsc-rtt), until it pops UINT64_MAX.
 *
 *   echo PING PONG
 */
#include <stdio.h>

#include "shmlane.h"

#define SCHEMA 0x52545454ULL /* "RTTT": c_rtt.rs's schema id */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: echo PING PONG\n");
        return 2;
    }
    shmlane_options opts = {0};
    opts.schema_id = SCHEMA;
    shmlane_spsc_consumer *ping = NULL;
    shmlane_spsc_producer *pong = NULL;
    if (shmlane_spsc_consumer_open(argv[1], sizeof(uint64_t), _Alignof(uint64_t), &opts, &ping) != SHMLANE_STATUS_OK ||
        shmlane_spsc_producer_open(argv[2], sizeof(uint64_t), _Alignof(uint64_t), &opts, &pong) != SHMLANE_STATUS_OK) {
        fprintf(stderr, "echo: %s\n", shmlane_last_error());
        return 1;
    }
    for (;;) {
        uint64_t v;
        shmlane_status s;
        while ((s = shmlane_spsc_consumer_pop(ping, &v, sizeof v)) == SHMLANE_STATUS_EMPTY) {
        }
        if (s != SHMLANE_STATUS_OK) break;
        while ((s = shmlane_spsc_producer_push(pong, &v, sizeof v)) == SHMLANE_STATUS_FULL) {
        }
        if (s != SHMLANE_STATUS_OK || v == UINT64_MAX) break;
    }
    shmlane_spsc_consumer_close(ping);
    shmlane_spsc_producer_close(pong);
    return 0;
}
