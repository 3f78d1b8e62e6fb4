/*
 * The C side of ffi/tests/c_interop.rs: one mode per run.
 *
 *   peer produce NAME N   opens the SPSC producer of NAME, sends N records
 *   peer consume NAME N   opens the SPSC consumer of NAME, receives N
 *                         records, then expects DISCONNECTED
 *   peer mpmc-send NAME N opens an MPMC sender of NAME, sends N records,
 *                         from two sender handles (the second a clone)
 *   peer bytes-recv NAME N opens the byte-ring consumer of NAME, receives
 *                         N frames of lengths seq % 200 holding seq's
 *                         bytes (half copied, half read in place), then
 *                         expects DISCONNECTED
 *   peer transport-send URL N sends N messages "message SEQ" to URL,
 *                         then closes
 *   peer transport-recv URL N receives N messages "message SEQ" from URL
 *                         (every other one first into a 4-byte buffer:
 *                         BUFFER_TOO_SMALL, kept for the next call), then
 *                         expects DISCONNECTED
 *   peer misuse NAME      bad handles, NULL pointers, wrong sizes, closed
 *                         handles, an incompatible open: status codes
 *
 * A record is {seq, seq ^ CHECK}; exit status 0 means every check passed,
 * anything else prints what failed on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shmlane.h"

#define SCHEMA 0x43414c4cULL
#define CHECK 0x9e3779b97f4a7c15ULL
#define WAIT_NS (10ULL * 1000 * 1000 * 1000)

typedef struct {
    uint64_t seq;
    uint64_t check;
} record;

static int failures = 0;

static void expect(const char *what, shmlane_status got, shmlane_status want) {
    if (got != want) {
        fprintf(stderr, "%s: got %s, want %s (%s)\n", what, shmlane_status_name(got),
                shmlane_status_name(want), shmlane_last_error());
        failures++;
    }
}

static shmlane_options options(void) {
    shmlane_options opts;
    memset(&opts, 0, sizeof opts);
    opts.schema_id = SCHEMA;
    return opts;
}

static int produce(const char *name, uint64_t n) {
    shmlane_options opts = options();
    shmlane_spsc_producer *tx = NULL;
    expect("open producer", shmlane_spsc_producer_open(name, sizeof(record), _Alignof(record), &opts, &tx),
           SHMLANE_STATUS_OK);
    if (failures) return 1;
    for (uint64_t seq = 0; seq < n; seq++) {
        record r = {seq, seq ^ CHECK};
        shmlane_status s = shmlane_spsc_producer_send(tx, &r, sizeof r, WAIT_NS);
        if (s != SHMLANE_STATUS_OK) {
            expect("send", s, SHMLANE_STATUS_OK);
            return 1;
        }
    }
    expect("close producer", shmlane_spsc_producer_close(tx), SHMLANE_STATUS_OK);
    return failures != 0;
}

static int consume(const char *name, uint64_t n) {
    shmlane_options opts = options();
    shmlane_spsc_consumer *rx = NULL;
    expect("open consumer", shmlane_spsc_consumer_open(name, sizeof(record), _Alignof(record), &opts, &rx),
           SHMLANE_STATUS_OK);
    if (failures) return 1;
    for (uint64_t seq = 0; seq < n; seq++) {
        record r;
        shmlane_status s = shmlane_spsc_consumer_recv(rx, &r, sizeof r, WAIT_NS);
        if (s != SHMLANE_STATUS_OK) {
            fprintf(stderr, "record %llu: ", (unsigned long long)seq);
            expect("recv", s, SHMLANE_STATUS_OK);
            return 1;
        }
        if (r.seq != seq || r.check != (seq ^ CHECK)) {
            fprintf(stderr, "record %llu: got seq %llu check %llx\n", (unsigned long long)seq,
                    (unsigned long long)r.seq, (unsigned long long)r.check);
            return 1;
        }
    }
    record r;
    expect("recv after the drain", shmlane_spsc_consumer_recv(rx, &r, sizeof r, SHMLANE_FOREVER),
           SHMLANE_STATUS_DISCONNECTED);
    expect("close consumer", shmlane_spsc_consumer_close(rx), SHMLANE_STATUS_OK);
    return failures != 0;
}

static int mpmc_send(const char *name, uint64_t n) {
    shmlane_options opts = options();
    shmlane_mpmc_sender *tx[2] = {NULL, NULL};
    expect("open sender", shmlane_mpmc_sender_open(name, sizeof(record), _Alignof(record), &opts, &tx[0]),
           SHMLANE_STATUS_OK);
    if (failures) return 1;
    expect("clone sender", shmlane_mpmc_sender_clone(tx[0], &tx[1]), SHMLANE_STATUS_OK);
    if (failures) return 1;
    for (uint64_t seq = 0; seq < n; seq++) {
        record r = {seq, seq ^ CHECK};
        shmlane_status s = shmlane_mpmc_sender_send(tx[seq % 2], &r, sizeof r, WAIT_NS);
        if (s != SHMLANE_STATUS_OK) {
            expect("mpmc send", s, SHMLANE_STATUS_OK);
            return 1;
        }
    }
    expect("close sender", shmlane_mpmc_sender_close(tx[0]), SHMLANE_STATUS_OK);
    expect("close clone", shmlane_mpmc_sender_close(tx[1]), SHMLANE_STATUS_OK);
    return failures != 0;
}

/* Frame `seq` holds seq % 200 bytes, byte i being (seq + i) & 0xff. */
static int frame_ok(uint64_t seq, const unsigned char *data, size_t len) {
    if (len != seq % 200) return 0;
    for (size_t i = 0; i < len; i++)
        if (data[i] != (unsigned char)((seq + i) & 0xff)) return 0;
    return 1;
}

static int bytes_recv(const char *name, uint64_t n) {
    shmlane_bytes_consumer *rx = NULL;
    expect("open bytes consumer", shmlane_bytes_consumer_open(name, NULL, &rx), SHMLANE_STATUS_OK);
    if (failures) return 1;
    unsigned char buf[256];
    for (uint64_t seq = 0; seq < n; seq++) {
        size_t len = 0;
        if (seq % 2 == 0) {
            expect("bytes recv", shmlane_bytes_consumer_recv(rx, buf, sizeof buf, &len, WAIT_NS), SHMLANE_STATUS_OK);
            if (!failures && !frame_ok(seq, buf, len)) {
                fprintf(stderr, "frame %llu: wrong bytes (len %zu)\n", (unsigned long long)seq, len);
                failures++;
            }
        } else {
            const void *data = NULL;
            expect("bytes read", shmlane_bytes_consumer_read(rx, WAIT_NS, &data, &len), SHMLANE_STATUS_OK);
            if (!failures && !frame_ok(seq, data, len)) {
                fprintf(stderr, "frame %llu: wrong bytes in place (len %zu)\n", (unsigned long long)seq, len);
                failures++;
            }
            expect("bytes release", shmlane_bytes_consumer_release(rx), SHMLANE_STATUS_OK);
        }
        if (failures) return 1;
    }
    size_t len = 0;
    expect("bytes recv after the drain", shmlane_bytes_consumer_recv(rx, buf, sizeof buf, &len, SHMLANE_FOREVER),
           SHMLANE_STATUS_DISCONNECTED);
    expect("close bytes consumer", shmlane_bytes_consumer_close(rx), SHMLANE_STATUS_OK);
    return failures != 0;
}

static int transport_send(const char *url, uint64_t n) {
    shmlane_transport_sender *tx = NULL;
    expect("open transport sender", shmlane_transport_sender_open(url, &tx), SHMLANE_STATUS_OK);
    if (failures) return 1;
    char msg[64];
    for (uint64_t seq = 0; seq < n; seq++) {
        int len = snprintf(msg, sizeof msg, "message %llu", (unsigned long long)seq);
        expect("transport send", shmlane_transport_send(tx, msg, (size_t)len, WAIT_NS), SHMLANE_STATUS_OK);
        if (failures) return 1;
    }
    expect("close transport sender", shmlane_transport_sender_close(tx), SHMLANE_STATUS_OK);
    return failures != 0;
}

static int transport_recv(const char *url, uint64_t n) {
    shmlane_transport_receiver *rx = NULL;
    expect("open transport receiver", shmlane_transport_receiver_open(url, &rx), SHMLANE_STATUS_OK);
    if (failures) return 1;
    char want[64], got[64];
    for (uint64_t seq = 0; seq < n; seq++) {
        int want_len = snprintf(want, sizeof want, "message %llu", (unsigned long long)seq);
        size_t len = 0;
        if (seq % 2 == 0) {
            expect("transport recv into 4 bytes", shmlane_transport_recv(rx, got, 4, &len, WAIT_NS),
                   SHMLANE_STATUS_BUFFER_TOO_SMALL);
            if (len != (size_t)want_len) {
                fprintf(stderr, "message %llu: needed %zu, want %d\n", (unsigned long long)seq, len, want_len);
                failures++;
            }
        }
        expect("transport recv", shmlane_transport_recv(rx, got, sizeof got, &len, WAIT_NS), SHMLANE_STATUS_OK);
        if (!failures && (len != (size_t)want_len || memcmp(got, want, len) != 0)) {
            fprintf(stderr, "message %llu: got %.*s\n", (unsigned long long)seq, (int)len, got);
            failures++;
        }
        if (failures) return 1;
    }
    size_t len = 0;
    expect("transport recv after the drain", shmlane_transport_recv(rx, got, sizeof got, &len, WAIT_NS),
           SHMLANE_STATUS_DISCONNECTED);
    expect("close transport receiver", shmlane_transport_receiver_close(rx), SHMLANE_STATUS_OK);
    return failures != 0;
}

static int misuse(const char *name) {
    shmlane_options opts = options();
    record r = {1, 1 ^ CHECK};

    /* NULL everywhere a pointer is required. */
    shmlane_spsc_producer *tx = NULL;
    expect("push on NULL", shmlane_spsc_producer_push(NULL, &r, sizeof r), SHMLANE_STATUS_NULL_POINTER);
    expect("create with NULL name",
           shmlane_spsc_producer_create(NULL, sizeof r, _Alignof(record), &opts, &tx),
           SHMLANE_STATUS_NULL_POINTER);
    expect("create with NULL out", shmlane_spsc_producer_create(name, sizeof r, _Alignof(record), &opts, NULL),
           SHMLANE_STATUS_NULL_POINTER);
    expect("close NULL", shmlane_spsc_producer_close(NULL), SHMLANE_STATUS_OK);
    expect("last error of a NULL pointer", strstr(shmlane_last_error(), "NULL") ? SHMLANE_STATUS_OK
                                                                                 : SHMLANE_STATUS_INTERNAL,
           SHMLANE_STATUS_OK);

    /* A bad shape, then a good producer. */
    expect("alignment 3", shmlane_spsc_producer_create(name, 24, 3, &opts, &tx), SHMLANE_STATUS_INVALID_ARGUMENT);
    expect("create", shmlane_spsc_producer_create(name, sizeof r, _Alignof(record), &opts, &tx),
           SHMLANE_STATUS_OK);
    expect("push NULL record", shmlane_spsc_producer_push(tx, NULL, sizeof r), SHMLANE_STATUS_NULL_POINTER);
    expect("push 8 bytes into 16-byte slots", shmlane_spsc_producer_push(tx, &r, 8), SHMLANE_STATUS_WRONG_SIZE);

    /* Another slot size on the same segment: Incompatible, naming the field. */
    shmlane_spsc_consumer *rx = NULL;
    expect("open with 8-byte slots", shmlane_spsc_consumer_open(name, 8, 8, &opts, &rx),
           SHMLANE_STATUS_INCOMPATIBLE);
    if (!strstr(shmlane_last_error(), "size")) {
        fprintf(stderr, "incompatible message does not name the size: %s\n", shmlane_last_error());
        failures++;
    }
    shmlane_options other = opts;
    other.schema_id = SCHEMA + 1;
    expect("open with another schema", shmlane_spsc_consumer_open(name, sizeof r, _Alignof(record), &other, &rx),
           SHMLANE_STATUS_INCOMPATIBLE);
    if (!strstr(shmlane_last_error(), "schema_id")) {
        fprintf(stderr, "incompatible message does not name schema_id: %s\n", shmlane_last_error());
        failures++;
    }
    expect("open", shmlane_spsc_consumer_open(name, sizeof r, _Alignof(record), &opts, &rx), SHMLANE_STATUS_OK);
    record got;
    expect("pop empty", shmlane_spsc_consumer_pop(rx, &got, sizeof got), SHMLANE_STATUS_EMPTY);
    expect("recv timeout", shmlane_spsc_consumer_recv(rx, &got, sizeof got, 1000000), SHMLANE_STATUS_TIMEOUT);
    expect("push", shmlane_spsc_producer_push(tx, &r, sizeof r), SHMLANE_STATUS_OK);
    expect("pop into a short buffer", shmlane_spsc_consumer_pop(rx, &got, 4), SHMLANE_STATUS_WRONG_SIZE);
    expect("pop", shmlane_spsc_consumer_pop(rx, &got, sizeof got), SHMLANE_STATUS_OK);

    /* A handle of another type, cast. */
    expect("consumer passed as producer", shmlane_spsc_producer_push((shmlane_spsc_producer *)rx, &r, sizeof r),
           SHMLANE_STATUS_BAD_HANDLE);

    /* Closed handles used again. */
    expect("close producer", shmlane_spsc_producer_close(tx), SHMLANE_STATUS_OK);
    expect("push after close", shmlane_spsc_producer_push(tx, &r, sizeof r), SHMLANE_STATUS_CLOSED);
    expect("close twice", shmlane_spsc_producer_close(tx), SHMLANE_STATUS_OK);
    expect("pop after the producer closed", shmlane_spsc_consumer_pop(rx, &got, sizeof got),
           SHMLANE_STATUS_DISCONNECTED);
    expect("close consumer", shmlane_spsc_consumer_close(rx), SHMLANE_STATUS_OK);
    shmlane_stats stats;
    expect("stats after close", shmlane_spsc_consumer_stats(rx, &stats), SHMLANE_STATUS_CLOSED);

    /* Byte ring: a frame longer than the buffer stays in the ring. */
    char bytes_name[256];
    snprintf(bytes_name, sizeof bytes_name, "%s-bytes", name);
    shmlane_options bopts;
    memset(&bopts, 0, sizeof bopts);
    bopts.capacity = 4096;
    shmlane_bytes_producer *btx = NULL;
    shmlane_bytes_consumer *brx = NULL;
    expect("bytes create", shmlane_bytes_producer_create(bytes_name, &bopts, &btx), SHMLANE_STATUS_OK);
    expect("bytes open", shmlane_bytes_consumer_open(bytes_name, &bopts, &brx), SHMLANE_STATUS_OK);
    void *grant = NULL;
    expect("grant", shmlane_bytes_producer_grant(btx, 5, 0, &grant), SHMLANE_STATUS_OK);
    expect("send during a grant", shmlane_bytes_producer_try_send(btx, "x", 1), SHMLANE_STATUS_BUSY);
    memcpy(grant, "hello", 5);
    size_t committed = 0;
    expect("commit", shmlane_bytes_producer_commit(btx, 5, &committed), SHMLANE_STATUS_OK);
    expect("commit twice", shmlane_bytes_producer_commit(btx, 5, &committed), SHMLANE_STATUS_BUSY);
    char small[2];
    size_t len = 0;
    expect("recv into 2 bytes", shmlane_bytes_consumer_recv(brx, small, sizeof small, &len, 0),
           SHMLANE_STATUS_BUFFER_TOO_SMALL);
    if (len != 5) {
        fprintf(stderr, "needed length %zu, want 5\n", len);
        failures++;
    }
    const void *data = NULL;
    expect("read", shmlane_bytes_consumer_read(brx, 0, &data, &len), SHMLANE_STATUS_OK);
    if (len != 5 || memcmp(data, "hello", 5) != 0) {
        fprintf(stderr, "read back the wrong frame\n");
        failures++;
    }
    expect("release", shmlane_bytes_consumer_release(brx), SHMLANE_STATUS_OK);
    expect("release twice", shmlane_bytes_consumer_release(brx), SHMLANE_STATUS_BUSY);
    expect("bytes close", shmlane_bytes_producer_close(btx), SHMLANE_STATUS_OK);
    expect("bytes close", shmlane_bytes_consumer_close(brx), SHMLANE_STATUS_OK);

    /* The semaphore. */
    char sem_name[256];
    snprintf(sem_name, sizeof sem_name, "%s-sem", name);
    shmlane_semaphore *sem = NULL;
    expect("semaphore create", shmlane_semaphore_create(sem_name, 1, NULL, &sem), SHMLANE_STATUS_OK);
    expect("semaphore take", shmlane_semaphore_try_wait(sem), SHMLANE_STATUS_OK);
    expect("semaphore empty", shmlane_semaphore_try_wait(sem), SHMLANE_STATUS_WOULD_BLOCK);
    expect("semaphore post", shmlane_semaphore_post(sem), SHMLANE_STATUS_OK);
    expect("semaphore wait", shmlane_semaphore_wait(sem, WAIT_NS), SHMLANE_STATUS_OK);
    expect("semaphore close", shmlane_semaphore_close(sem), SHMLANE_STATUS_OK);

    /* A malformed URL. */
    shmlane_transport_sender *ts = NULL;
    expect("bad url", shmlane_transport_sender_open("nonsense", &ts), SHMLANE_STATUS_INVALID_ARGUMENT);

    if (strcmp(shmlane_status_name(999), "SHMLANE_STATUS_UNKNOWN") != 0) {
        fprintf(stderr, "status 999 has a name\n");
        failures++;
    }
    return failures != 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "produce") == 0) return produce(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "consume") == 0) return consume(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "mpmc-send") == 0) return mpmc_send(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "bytes-recv") == 0) return bytes_recv(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "transport-send") == 0)
        return transport_send(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 4 && strcmp(argv[1], "transport-recv") == 0)
        return transport_recv(argv[2], strtoull(argv[3], NULL, 10));
    if (argc == 3 && strcmp(argv[1], "misuse") == 0) return misuse(argv[2]);
    fprintf(stderr, "usage: peer produce|consume|mpmc-send|bytes-recv NAME N | transport-send|transport-recv URL N | misuse NAME\n");
    return 2;
}
