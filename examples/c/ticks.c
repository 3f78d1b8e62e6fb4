/*
 * shmlane from C: a producer and a consumer of fixed-size records over a
 * named SPSC ring, in two processes (a fork). Build and run:
 *
 *   make -C examples/c && examples/c/build/ticks
 */
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "shmlane.h"

typedef struct {
    uint64_t seq;
    double price;
} tick;

#define SCHEMA 0x7469636bULL /* both ends agree on it (and a Rust peer would too) */

static int fail(const char *what) {
    fprintf(stderr, "%s: %s\n", what, shmlane_last_error());
    return 1;
}

int main(void) {
    char name[64];
    snprintf(name, sizeof name, "shmlane-example-ticks-%d", (int)getpid());
    shmlane_options opts = {0};
    opts.schema_id = SCHEMA;
    opts.capacity = 1024;

    shmlane_spsc_producer *tx = NULL;
    if (shmlane_spsc_producer_create(name, sizeof(tick), _Alignof(tick), &opts, &tx) != SHMLANE_STATUS_OK)
        return fail("create");

    pid_t child = fork();
    if (child == 0) {
        shmlane_spsc_consumer *rx = NULL;
        if (shmlane_spsc_consumer_open(name, sizeof(tick), _Alignof(tick), &opts, &rx) != SHMLANE_STATUS_OK)
            return fail("open");
        tick t;
        double sum = 0;
        shmlane_status s;
        /* Everything the producer sent, then DISCONNECTED once it closed. */
        while ((s = shmlane_spsc_consumer_recv(rx, &t, sizeof t, SHMLANE_FOREVER)) == SHMLANE_STATUS_OK)
            sum += t.price;
        printf("consumer: %s after the last tick, sum of prices %.1f\n", shmlane_status_name(s), sum);
        shmlane_spsc_consumer_close(rx);
        return 0;
    }
    for (uint64_t i = 0; i < 100000; i++) {
        tick t = {i, (double)(i % 100)};
        if (shmlane_spsc_producer_send(tx, &t, sizeof t, SHMLANE_FOREVER) != SHMLANE_STATUS_OK)
            return fail("send");
    }
    shmlane_spsc_producer_close(tx); /* detaches: the consumer drains, then sees DISCONNECTED */
    int status = 0;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
