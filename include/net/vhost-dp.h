/*
 * vhost dataplane: the driver API
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A vhost-dp driver moves Ethernet frames between the vhost dataplane
 * ring engine and some packet I/O facility (a TAP device, libslirp,
 * DPDK, AF_XDP, or a loopback for tests).  Drivers know nothing about
 * virtio or guest memory: they see bursts of packets described by iovecs
 * plus neutral offload metadata.
 *
 * A driver is a user-creatable QOM object derived from the abstract
 * TYPE_VHOST_DP_DRIVER.  Its class provides a small slow path (open and
 * close a queue, capabilities); each open queue carries a const fast path
 * table (tx_burst, rx_burst, rx_release).  One queue pair is owned by one
 * IOThread: the fast path hooks of a queue are only ever called from the
 * AioContext the queue was opened in, so they need no locking.
 *
 * This header must not include virtio headers.
 */

#ifndef NET_VHOST_DP_H
#define NET_VHOST_DP_H

#include "qom/object.h"
#include "block/aio.h"

#define TYPE_VHOST_DP_DRIVER "vhost-dp-driver"
OBJECT_DECLARE_TYPE(VhostDpDriver, VhostDpDriverClass, VHOST_DP_DRIVER)

/* Most packets a burst hands over in one call, in either direction. */
#define VHOST_DP_BURST 64

/* Offload flags, VhostDpOffload.flags */
enum {
    /* csum_start/csum_offset are valid: the checksum is still to be done */
    VHOST_DP_OFFLOAD_NEEDS_CSUM = 1 << 0,
    /* the checksum of the packet was verified (RX only) */
    VHOST_DP_OFFLOAD_CSUM_VALID = 1 << 1,
};

/* Segmentation types, VhostDpOffload.gso_type */
typedef enum VhostDpGso {
    VHOST_DP_GSO_NONE = 0,
    VHOST_DP_GSO_TCPV4,
    VHOST_DP_GSO_TCPV6,
    VHOST_DP_GSO_UDP,           /* UFO: IP fragments (never offered) */
    VHOST_DP_GSO_UDP_L4,        /* USO: UDP datagrams, IPv4 or IPv6 */
} VhostDpGso;

/* Offload capabilities, a bit mask used for the tx and rx directions */
enum {
    VHOST_DP_CAP_CSUM = 1 << 0,    /* partial checksums */
    VHOST_DP_CAP_TSO4 = 1 << 1,
    VHOST_DP_CAP_TSO6 = 1 << 2,
    VHOST_DP_CAP_ECN  = 1 << 3,    /* TSO with ECN */
    VHOST_DP_CAP_USO4 = 1 << 4,    /* UDP segmentation, IPv4 */
    VHOST_DP_CAP_USO6 = 1 << 5,    /* UDP segmentation, IPv6 */
};

/**
 * VhostDpOffload: offload metadata of one packet
 *
 * All-zero means a complete frame with a correct checksum, if any.
 */
typedef struct VhostDpOffload {
    uint8_t flags;          /* VHOST_DP_OFFLOAD_* */
    uint8_t gso_type;       /* VhostDpGso */
    bool gso_ecn;           /* segments carry ECN CWR */
    uint16_t hdr_len;       /* bytes of headers before the payload (GSO) */
    uint16_t gso_size;      /* payload bytes per segment (GSO) */
    uint16_t csum_start;    /* NEEDS_CSUM: where checksumming starts */
    uint16_t csum_offset;   /* NEEDS_CSUM: offset of the field from there */
} VhostDpOffload;

/**
 * VhostDpPkt: one Ethernet frame (no virtio header)
 *
 * @iov, @iov_cnt: where the frame's bytes are.
 * @len: the frame's length in bytes (the sum of the iovec lengths).
 * @ol: its offload metadata.
 * @priv: for the driver's use in rx_burst/rx_release; never read by the
 *     engine.
 */
typedef struct VhostDpPkt {
    struct iovec *iov;
    unsigned int iov_cnt;
    uint32_t len;
    VhostDpOffload ol;
    uintptr_t priv;
} VhostDpPkt;

/**
 * vhost_dp_offload_allowed: may a frame with @ol go where only the
 * VHOST_DP_CAP_* offloads in @caps are understood?
 */
static inline bool vhost_dp_offload_allowed(const VhostDpOffload *ol,
                                            uint32_t caps)
{
    if ((ol->flags & VHOST_DP_OFFLOAD_NEEDS_CSUM) &&
        !(caps & VHOST_DP_CAP_CSUM)) {
        return false;
    }
    if (ol->gso_type == VHOST_DP_GSO_NONE) {
        return true;            /* most frames: decided in two tests */
    }
    if (ol->gso_ecn && !(caps & VHOST_DP_CAP_ECN)) {
        return false;
    }
    switch (ol->gso_type) {
    case VHOST_DP_GSO_TCPV4:
        return (caps & VHOST_DP_CAP_TSO4) && ol->gso_size;
    case VHOST_DP_GSO_TCPV6:
        return (caps & VHOST_DP_CAP_TSO6) && ol->gso_size;
    case VHOST_DP_GSO_UDP_L4:
        /* one type for both IP versions, so both are needed */
        return (caps & VHOST_DP_CAP_USO4) && (caps & VHOST_DP_CAP_USO6) &&
               ol->gso_size;
    default:
        return false;
    }
}

typedef struct VhostDpDriverQueue VhostDpDriverQueue;

/**
 * VhostDpFastOps: the fast path of an open driver queue
 *
 * Called only from the queue's AioContext.  No hook may block, allocate
 * per packet or log per packet.
 */
typedef struct VhostDpFastOps {
    /**
     * @tx_burst: transmit up to @n frames (mandatory).
     *
     * The frames' memory belongs to the engine (it is guest memory): the
     * driver copies what it needs before it returns and keeps no pointer,
     * unless the queue has @tx_hold (see VhostDpDriverQueue).  The iovec
     * arrays are the engine's in any case, valid during the call only.
     * Returns how many frames, from the start of @pkts, were taken (sent,
     * queued, or dropped and counted by the driver).  A return below @n
     * means back-pressure: the engine offers the rest again later, after
     * the driver calls vhost_dp_queue_wake() or the next kick.
     */
    unsigned int (*tx_burst)(VhostDpDriverQueue *dq, const VhostDpPkt *pkts,
                             unsigned int n);

    /**
     * @rx_burst: receive up to @n frames (mandatory without @rx_read).
     *
     * Fills @pkts[0..ret) with frames in driver-owned memory: @iov,
     * @iov_cnt, @len, @ol and, if the driver wants it, @priv.  The
     * memory, and the iovec arrays, stay valid and unchanged until the
     * engine hands the frames back with @rx_release.  Returns the number
     * of frames, 0 if none is ready.  The engine calls it again only once
     * it has handled every frame of the previous burst, so a driver
     * without @rx_release may reuse its buffers from the start then.
     */
    unsigned int (*rx_burst)(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                             unsigned int n);

    /**
     * @rx_release: give back frames obtained from rx_burst (optional).
     *
     * Frames are released in the order they were received.
     */
    void (*rx_release)(VhostDpDriverQueue *dq, VhostDpPkt *pkts,
                       unsigned int n);

    /**
     * @rx_poll: would rx_burst return frames? (optional)
     *
     * A cheap, syscall-free check; a false "yes" costs one run.  For a
     * queue without a readiness fd (VhostDpDriverQueue.fd == -1) the
     * engine calls it after each run and runs again while it says yes.
     * The engine's IOThread polls (its poll-max-ns) only while every
     * handler in it can be polled: a queue with an fd but no rx_poll
     * turns polling off for its IOThread.
     */
    bool (*rx_poll)(VhostDpDriverQueue *dq);

    /**
     * @rx_read: receive one frame straight into guest buffers (optional).
     *
     * For a driver whose source copies every frame anyway, as read(2)
     * does: it saves the engine's copy.  The engine then calls it instead
     * of rx_burst, and only once it holds guest buffers for a frame.
     * Reads the next frame: its first bytes into @iov[0..@iov_cnt), which
     * is guest memory the driver may write only during the call, and the
     * rest, if the frame is longer, into driver memory.  Fills @pkt: @len
     * is the whole frame's length, @ol its offloads, and @iov/@iov_cnt
     * describe the bytes past the ones in @iov (@iov_cnt 0 when all
     * fitted), valid until the next call.  @iov_cnt may be 0: the frame
     * is read only to be dropped.  Returns false when no frame is ready.
     */
    bool (*rx_read)(VhostDpDriverQueue *dq, const struct iovec *iov,
                    unsigned int iov_cnt, VhostDpPkt *pkt);

    /**
     * @tx_flush: stop using the guest memory of the frames taken
     * (mandatory with @tx_hold).
     *
     * Finishes the I/O in flight, or copies the frames that still wait
     * into driver memory, and counts every frame taken in @tx_completed.
     * The engine calls it before it stops and before guest memory or a
     * vIOMMU mapping goes away.  It may block; it must not call
     * vhost_dp_queue_wake().
     */
    void (*tx_flush)(VhostDpDriverQueue *dq);
} VhostDpFastOps;

/**
 * VhostDpDriverQueue: the engine-visible part of an open driver queue
 *
 * Drivers embed it in their own per-queue state and fill in the public
 * fields in open_queue.
 *
 * @ops: the fast path.
 * @fd: a file descriptor that becomes readable when rx_burst may return
 *     frames, or -1 when the driver only produces frames in response to
 *     tx_burst or polling (@ops->rx_poll).  After tx_burst pushed back,
 *     the engine also waits for @fd to become readable, or writable with
 *     @tx_wait_writable.
 * @tx_wait_writable: see @fd.
 * @tx_drops: frames tx_burst took but could not send, counted by the
 *     driver in the engine's thread; the engine reports them in its
 *     tx-drops.
 * @tx_hold: zero-copy transmit, set in open_queue.  The frames tx_burst
 *     takes stay in guest memory until the driver is done with them: it
 *     counts them in @tx_completed, in the order tx_burst took them, and
 *     calls vhost_dp_queue_wake() when it counts some outside tx_burst.
 *     Only then does the guest get the buffers back.
 * @tx_completed: see @tx_hold.
 * @tx_zero_copy: frames the driver sent from guest memory (@tx_hold),
 *     reported in tx-zero-copy.
 */
struct VhostDpDriverQueue {
    /*< private >*/
    struct VhostDpEngine *engine;   /* while started: vhost_dp_queue_wake */

    /*< public >*/
    const VhostDpFastOps *ops;
    int fd;
    bool tx_wait_writable;
    bool tx_hold;
    uint64_t tx_drops;
    uint64_t tx_completed;
    uint64_t tx_zero_copy;
};

/**
 * vhost_dp_queue_wake: ask the engine to run the queue again
 *
 * For a driver whose TX back-pressure cleared, or which produced RX frames
 * from outside the engine's callbacks.  Must be called from the queue's
 * AioContext.
 */
void vhost_dp_queue_wake(VhostDpDriverQueue *dq);

/**
 * VhostDpDriverCaps: what a driver supports, fixed once the object is
 * complete
 *
 * @max_queues: the most queue pairs it can serve.
 * @tx_offloads: VHOST_DP_CAP_* the driver accepts on transmit (frames
 *     that still need a checksum or segmentation).
 * @rx_offloads: VHOST_DP_CAP_* the driver may produce on receive.
 * @steering: the driver's device spreads received frames over its queue
 *     pairs with a steering eBPF program (set_steering_ebpf), which is how
 *     the guest's RSS configuration is applied.  Without it, the engines
 *     hand each frame to its queue pair's IOThread themselves.
 */
typedef struct VhostDpDriverCaps {
    unsigned int max_queues;
    uint32_t tx_offloads;
    uint32_t rx_offloads;
    bool steering;
} VhostDpDriverCaps;

struct VhostDpDriver {
    Object parent_obj;

    /* the netdev using this driver, or NULL */
    char *netdev_id;
    /* complete: properties no longer change */
    bool created;
};

struct VhostDpDriverClass {
    ObjectClass parent_class;

    /* mandatory: fill @caps */
    void (*get_caps)(VhostDpDriver *drv, VhostDpDriverCaps *caps);

    /*
     * mandatory: open queue pair @index, to be served in @ctx.  Called
     * under the BQL; @index < caps.max_queues.
     */
    VhostDpDriverQueue *(*open_queue)(VhostDpDriver *drv, unsigned int index,
                                      AioContext *ctx, Error **errp);

    /* mandatory: close a queue the engine no longer uses (BQL held) */
    void (*close_queue)(VhostDpDriver *drv, VhostDpDriverQueue *dq);

    /*
     * optional: the guest now accepts the VHOST_DP_CAP_* offloads in
     * @rx_offloads on receive.  Called under the BQL, also while queues
     * run: make the change visible to the fast path atomically.
     */
    void (*set_rx_offloads)(VhostDpDriver *drv, uint32_t rx_offloads);

    /*
     * optional: the guest turned queue pair @dq on or off (multiqueue).
     * Called under the BQL.  A driver that shares a device between
     * queues (a multiqueue TAP) stops feeding a disabled queue there.
     */
    void (*set_enabled)(VhostDpDriver *drv, VhostDpDriverQueue *dq,
                        bool enabled);

    /*
     * optional, with caps.steering: steer the frames the device receives
     * to its queue pairs with eBPF program @prog_fd (QEMU's RSS program,
     * which the netdev filled with the guest's key and table), or
     * with the device's default when @prog_fd is -1.  Called under the
     * BQL; returns false if the device refused it.
     */
    bool (*set_steering_ebpf)(VhostDpDriver *drv, int prog_fd);

    /* optional: complete the object's set-up (user_creatable complete) */
    bool (*complete)(VhostDpDriver *drv, Error **errp);
};

/*
 * Driver properties
 *
 * A driver's properties are plain fields of its object, read by its
 * complete hook: they take effect when the object is created and cannot
 * change afterwards.  A driver describes them in one table and registers
 * it with vhost_dp_driver_class_add_props(); one getter and one setter
 * serve every entry, so the rule is kept in one place.  String and list
 * fields belong to the property: a new value replaces the old one and
 * the last one is freed when the object goes away, before the driver's
 * instance_finalize runs.  Defaults stay in instance_init.
 */
typedef enum VhostDpPropKind {
    VHOST_DP_PROP_KIND_STR,         /* char *, "string" */
    VHOST_DP_PROP_KIND_BOOL,        /* bool */
    VHOST_DP_PROP_KIND_UINT16,      /* uint16_t */
    VHOST_DP_PROP_KIND_UINT32,      /* uint32_t */
    VHOST_DP_PROP_KIND_STRLIST,     /* strList * */
    VHOST_DP_PROP_KIND_ENUM,        /* a QAPI enum */
} VhostDpPropKind;

/**
 * VhostDpProp: one property of a driver, a field of its object
 *
 * @name, @description: as QOM shows them.
 * @kind: the field's type.
 * @offset: where the field is in the driver's object.
 * @enum_type, @enum_lookup: for VHOST_DP_PROP_KIND_ENUM, the QAPI enum.
 * @min, @max: for the unsigned kinds, the values allowed when @max is not
 *     0 (the QAPI type's whole range otherwise).
 *
 * Write entries with the VHOST_DP_PROP_* macros, which check the field's
 * type.
 */
typedef struct VhostDpProp {
    const char *name;
    VhostDpPropKind kind;
    size_t offset;
    const char *description;
    const char *enum_type;
    const QEnumLookup *enum_lookup;
    uint32_t min, max;
} VhostDpProp;

#define VHOST_DP_PROP_(_name, _kind, _state, _field, _type, _desc, ...) {   \
        .name = (_name),                                                    \
        .kind = VHOST_DP_PROP_KIND_##_kind,                                 \
        .offset = offsetof(_state, _field) +                                \
                  type_check(_type, typeof_field(_state, _field)),          \
        .description = (_desc),                                             \
        __VA_ARGS__                                                         \
    }

#define VHOST_DP_PROP_STR(_name, _state, _field, _desc)                     \
    VHOST_DP_PROP_(_name, STR, _state, _field, char *, _desc)
#define VHOST_DP_PROP_BOOL(_name, _state, _field, _desc)                    \
    VHOST_DP_PROP_(_name, BOOL, _state, _field, bool, _desc)
/* optional arguments: .min = N, .max = N */
#define VHOST_DP_PROP_UINT16(_name, _state, _field, _desc, ...)             \
    VHOST_DP_PROP_(_name, UINT16, _state, _field, uint16_t, _desc,          \
                   __VA_ARGS__)
#define VHOST_DP_PROP_UINT32(_name, _state, _field, _desc, ...)             \
    VHOST_DP_PROP_(_name, UINT32, _state, _field, uint32_t, _desc,          \
                   __VA_ARGS__)
#define VHOST_DP_PROP_STRLIST(_name, _state, _field, _desc)                 \
    VHOST_DP_PROP_(_name, STRLIST, _state, _field, strList *, _desc)
/* @_enum: the QAPI enum's C type; like qdev, the field is visited as int */
#define VHOST_DP_PROP_ENUM(_name, _state, _field, _enum, _desc)             \
    VHOST_DP_PROP_(_name, ENUM, _state, _field, _enum, _desc,               \
                   .enum_type = #_enum, .enum_lookup = &_enum##_lookup)

/**
 * vhost_dp_driver_class_add_props: add the @n properties of @props, which
 * must stay valid for as long as the class (a static const table)
 */
void vhost_dp_driver_class_add_props(ObjectClass *oc,
                                     const VhostDpProp *props, size_t n);

#endif /* NET_VHOST_DP_H */
