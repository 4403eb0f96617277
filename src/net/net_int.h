/*
 * net/net_int.h: what net/ offers msg/ and blk/ beyond bt/net.h. Not API:
 * these functions may change with msg/ and blk/, which are built with
 * them.
 */
#ifndef BT_NET_NET_INT_H
#define BT_NET_NET_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "bt/net.h"

/*
 * bt__net_conn_await lets a thread that waits for an answer on c read it
 * from the socket itself, instead of sleeping until the loop thread has
 * read, decrypted and handed it over (one thread wake-up less per call:
 * the hand-off that dominates a lockstep call).
 *
 * It returns true as soon as *word == done. Until then, when c is an
 * outgoing connection that the loop thread is not reading at the moment,
 * it takes c's reading over: it reads, decrypts and splits frames on the
 * calling thread, passes each frame whose kind is in kinds (bit k for kind
 * k < 64) to c's on_frame on this thread (with c's reading lock held, so
 * frames of c are still handled one at a time and in order), and hands
 * everything else back to the loop thread: the first frame of another
 * kind (and all after it), the end of the stream, a read or TLS error.
 * It returns false when it could not take the reading over, when it handed
 * it back, or at deadline (monotonic ns); the caller then waits as it
 * would have (the frame it waits for is read by the loop thread).
 * Blocking; never on the loop thread (returns false there).
 */
BT_API bool bt__net_conn_await(bt_net_conn *c, atomic_int *word, int done,
    uint64_t deadline, uint64_t kinds);

/*
 * bt__net_conn_send_encoded is bt_net_conn_send for a frame already
 * encoded with bt_net_frame_encode (p, n borrowed for the call): one
 * encoding for a message that goes to many connections (msg/'s fan-out).
 * Same results; -EMSGSIZE when n is over the frame limit.
 */
BT_API int bt__net_conn_send_encoded(bt_net_conn *c, const void *p,
    size_t n);

#endif /* BT_NET_NET_INT_H */
