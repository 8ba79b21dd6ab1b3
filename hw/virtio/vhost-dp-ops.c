/*
 * vhost dataplane: the VhostOps backend
 *
 * Copyright (c) 2026 The vhost-dp authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * One job: serve the vhost API of one virtio-net queue pair (dp_ops,
 * VHOST_BACKEND_TYPE_DP).  The ops are direct function calls from
 * hw/virtio/vhost.c under the BQL: the set_* ops only record state for
 * the next start; dev_start maps the vrings set up in this start and
 * attaches the queue pair to its IOThread, dev_start(false) detaches it
 * and forgets that start's vrings (vhost-dp-iothread.c).
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/rcu.h"
#include "hw/virtio/vhost.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/vhost-backend.h"
#include "hw/virtio/vhost-dp-int.h"
#include "standard-headers/linux/virtio_net.h"
#include "standard-headers/linux/vhost_types.h"
#include "linux-headers/linux/vhost.h"
#include "trace.h"

static VhostDpEngine *dp_engine(struct vhost_dev *dev)
{
    return dev->opaque;
}

static DpVring *dp_vring(struct vhost_dev *dev, unsigned int idx)
{
    assert(idx < DP_NVQS);
    return &dp_engine(dev)->vr[idx];
}

static int dp_backend_init(struct vhost_dev *dev, void *opaque, Error **errp)
{
    VhostDpEngine *e = opaque;

    assert(dev->nvqs == DP_NVQS);
    dev->opaque = e;
    e->dev = dev;
    return 0;
}

static int dp_backend_cleanup(struct vhost_dev *dev)
{
    VhostDpEngine *e = dp_engine(dev);

    assert(!e->started);
    e->dev = NULL;
    return 0;
}

static int dp_memslots_limit(struct vhost_dev *dev)
{
    return INT_MAX;
}

static int dp_set_log_base(struct vhost_dev *dev, uint64_t base,
                           struct vhost_log *log)
{
    /* dirty pages are marked directly, see dp_mark_dirty() */
    return 0;
}

static int dp_set_mem_table(struct vhost_dev *dev, struct vhost_memory *mem)
{
    VhostDpEngine *e = dp_engine(dev);
    DpMemTable *mt, *old;

    assert(mem->nregions == dev->n_mem_sections);
    mt = g_malloc0(sizeof(*mt) + mem->nregions * sizeof(mt->r[0]));
    mt->n = mem->nregions;
    for (unsigned int i = 0; i < mt->n; i++) {
        const struct vhost_memory_region *reg = &mem->regions[i];
        MemoryRegionSection *s = &dev->mem_sections[i];

        mt->r[i] = (DpMemRegion) {
            .gpa = reg->guest_phys_addr,
            .size = reg->memory_size,
            .hva = (uint8_t *)(uintptr_t)reg->userspace_addr,
            .mr = s->mr,
            .mr_offset = s->offset_within_region,
        };
        memory_region_ref(s->mr);
    }
    /* nothing may use the old table's memory past this */
    dp_engine_tx_flush(e);
    old = e->rings.mem;
    qatomic_rcu_set(&e->rings.mem, mt);
    if (old) {
        /* IOThreads read the table under RCU; free it after them */
        call_rcu(old, dp_mem_table_free, rcu);
    }
    trace_vhost_dp_set_mem_table(e, mt->n);
    return 0;
}

static int dp_set_vring_addr(struct vhost_dev *dev,
                             struct vhost_vring_addr *addr)
{
    VhostDpEngine *e = dp_engine(dev);
    DpVring *vr = dp_vring(dev, addr->index);

    trace_vhost_dp_set_vring_addr(e, addr->index, addr->desc_user_addr,
                                  addr->avail_user_addr,
                                  addr->used_user_addr);
    if (e->started) {
        /* toggling logging while running: the same rings */
        return 0;
    }
    /* resolved when the queue pair starts */
    vr->addr[DP_RING_DESC] = addr->desc_user_addr;
    vr->addr[DP_RING_AVAIL] = addr->avail_user_addr;
    vr->addr[DP_RING_USED] = addr->used_user_addr;
    vr->used_log_addr = addr->log_guest_addr;
    vr->setup |= DP_SETUP_ADDR;
    return 0;
}

static int dp_set_vring_endian(struct vhost_dev *dev,
                               struct vhost_vring_state *ring)
{
    /* legacy big-endian guests are not supported */
    return ring->num == VHOST_VRING_LITTLE_ENDIAN ? 0 : -ENOTSUP;
}

static int dp_set_vring_num(struct vhost_dev *dev,
                            struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    if (!ring->num || ring->num > 32768 || (ring->num & (ring->num - 1))) {
        return -EINVAL;
    }
    vr->num = ring->num;
    vr->setup |= DP_SETUP_NUM;
    return 0;
}

static int dp_set_vring_base(struct vhost_dev *dev,
                             struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    dp_vring_set_base(vr, ring->num);
    return 0;
}

static int dp_get_vring_base(struct vhost_dev *dev,
                             struct vhost_vring_state *ring)
{
    DpVring *vr = dp_vring(dev, ring->index);

    /* stopped: every buffer taken so far is in the used ring */
    assert(!dp_engine(dev)->started);
    ring->num = dp_vring_get_base(vr);
    return 0;
}

static int dp_set_vring_kick(struct vhost_dev *dev,
                             struct vhost_vring_file *file)
{
    DpVring *vr = dp_vring(dev, file->index);

    assert(!dp_engine(dev)->started);
    vr->kick_fd = file->fd;
    if (file->fd >= 0) {
        vr->setup |= DP_SETUP_KICK;
    } else {
        vr->setup &= ~DP_SETUP_KICK;
    }
    return 0;
}

static int dp_set_vring_call(struct vhost_dev *dev,
                             struct vhost_vring_file *file)
{
    DpVring *vr = dp_vring(dev, file->index);

    /* vCPU threads swap it while running (masking): atomic */
    qatomic_set(&vr->call_fd, file->fd);
    return 0;
}

static int dp_set_features(struct vhost_dev *dev, uint64_t features)
{
    VhostDpEngine *e = dp_engine(dev);

    e->features = features;
    e->rings.event_idx = features & (1ULL << VIRTIO_RING_F_EVENT_IDX);
    e->rings.packed = features & (1ULL << VIRTIO_F_RING_PACKED);
    e->mrg_rxbuf = features & (1ULL << VIRTIO_NET_F_MRG_RXBUF);
    if ((features & (1ULL << VIRTIO_F_VERSION_1)) &&
        (features & (1ULL << VIRTIO_NET_F_HASH_REPORT))) {
        e->hdr_len = sizeof(struct virtio_net_hdr_v1_hash);
    } else if (features & ((1ULL << VIRTIO_NET_F_MRG_RXBUF) |
                           (1ULL << VIRTIO_F_VERSION_1))) {
        e->hdr_len = sizeof(struct virtio_net_hdr_mrg_rxbuf);
    } else {
        e->hdr_len = sizeof(struct virtio_net_hdr);
    }
    /* toggled while running when migration starts and ends */
    qatomic_set(&e->rings.log_all,
                !!(features & (1ULL << VHOST_F_LOG_ALL)));
    return 0;
}

static int dp_get_features(struct vhost_dev *dev, uint64_t *features)
{
    *features = dp_engine(dev)->offered;
    return 0;
}

static int dp_set_owner(struct vhost_dev *dev)
{
    return 0;
}

static int dp_get_vq_index(struct vhost_dev *dev, int idx)
{
    assert(idx >= dev->vq_index && idx < dev->vq_index + dev->nvqs);
    return idx - dev->vq_index;
}

static int dp_set_vring_enable(struct vhost_dev *dev, int enable)
{
    VhostDpEngine *e = dp_engine(dev);

    qatomic_set(&e->enabled, !!enable);
    trace_vhost_dp_set_vring_enable(e, enable);
    if (VHOST_DP_DRIVER_GET_CLASS(e->drv)->set_enabled) {
        VHOST_DP_DRIVER_GET_CLASS(e->drv)->set_enabled(e->drv, e->dq,
                                                       !!enable);
    }
    if (enable && e->started) {
        dp_engine_rerun(e);
    }
    return 0;
}

static int dp_net_set_mtu(struct vhost_dev *dev, uint16_t mtu)
{
    /* any MTU up to 64 KiB frames is fine for the engine */
    return 0;
}

/* Forget what the vhost ops set up for the start that ends */
static void dp_vring_clear(DpVring *vr)
{
    dp_vring_unmap(vr);
    vr->ready = false;
    vr->setup = 0;
    vr->num = 0;
    memset(vr->addr, 0, sizeof(vr->addr));
    vr->used_log_addr = 0;
    vr->kick_fd = -1;
}

static void dp_dev_stop(VhostDpEngine *e)
{
    trace_vhost_dp_dev_start(e, false);
    dp_engine_detach(e);
    e->dq->engine = NULL;
    e->started = false;
    dp_inject_drop_all(e);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        dp_vring_end(&e->vr[i]);
        dp_vring_clear(&e->vr[i]);
    }
}

/*
 * Serve the vrings the guest set up in this start.  One it did not set
 * up is not served, as vhost-kernel leaves it without a backend: a
 * queue pair may run with only its TX vring, say.
 */
static int dp_dev_start(struct vhost_dev *dev, bool started)
{
    VhostDpEngine *e = dp_engine(dev);

    if (started == e->started) {
        return 0;
    }
    if (!started) {
        dp_dev_stop(e);
        return 0;
    }
    e->rings.iommu_as = vhost_dev_has_iommu(dev) ? dev->vdev->dma_as
                                                  : NULL;
    dp_rings_start(&e->rings);
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        DpVring *vr = &e->vr[i];

        vr->ready = vr->setup == DP_SETUP_ALL;
        trace_vhost_dp_vring_start(e, i, vr->ready);
        if (!vr->ready) {
            continue;
        }
        if (!dp_vring_map(vr)) {
            error_report("vhost-dp: %s: vring %u is not aligned as virtio "
                         "requires, or not in guest memory", e->name, i);
            for (unsigned int j = 0; j < DP_NVQS; j++) {
                dp_vring_clear(&e->vr[j]);
            }
            dp_iotlb_flush(&e->rings);
            return -EINVAL;
        }
    }
    /* both mapped: a start that fails has begun (and reported) nothing */
    for (unsigned int i = 0; i < DP_NVQS; i++) {
        DpVring *vr = &e->vr[i];

        if (!vr->ready) {
            continue;
        }
        event_notifier_init_fd(&vr->kick, vr->kick_fd);
        if (!dp_vring_begin(vr)) {
            continue;           /* stopped, and reported */
        }
        /* kicks off on RX until buffers run out, on TX until idle */
        if (i == DP_TX) {
            dp_vring_notify_on(vr, vr->last_avail);
        } else {
            dp_vring_notify_off(vr);
        }
    }
    /* what the run loop translates, it translates again */
    dp_iotlb_flush(&e->rings);
    e->started = true;
    e->dq->engine = e;
    trace_vhost_dp_dev_start(e, true);
    dp_engine_attach(e);
    return 0;
}

/* The guest unmapped an IOVA range (vIOMMU) */
static int dp_send_device_iotlb_msg(struct vhost_dev *dev,
                                    struct vhost_iotlb_msg *imsg)
{
    VhostDpEngine *e = dp_engine(dev);
    uint64_t last = imsg->iova + imsg->size - 1;

    if (!imsg->size || last < imsg->iova) {
        /* a size of 0 is the whole 64-bit space */
        last = UINT64_MAX;
    }
    if (imsg->type == VHOST_IOTLB_INVALIDATE && e->started) {
        dp_engine_invalidate(e, imsg->iova, last);
    }
    return 0;
}

const VhostOps dp_ops = {
    .backend_type = VHOST_BACKEND_TYPE_DP,
    .vhost_backend_init = dp_backend_init,
    .vhost_backend_cleanup = dp_backend_cleanup,
    .vhost_backend_memslots_limit = dp_memslots_limit,
    .vhost_net_set_mtu = dp_net_set_mtu,
    .vhost_set_log_base = dp_set_log_base,
    .vhost_set_mem_table = dp_set_mem_table,
    .vhost_set_vring_addr = dp_set_vring_addr,
    .vhost_set_vring_endian = dp_set_vring_endian,
    .vhost_set_vring_num = dp_set_vring_num,
    .vhost_set_vring_base = dp_set_vring_base,
    .vhost_get_vring_base = dp_get_vring_base,
    .vhost_set_vring_kick = dp_set_vring_kick,
    .vhost_set_vring_call = dp_set_vring_call,
    .vhost_set_features = dp_set_features,
    .vhost_get_features = dp_get_features,
    .vhost_set_owner = dp_set_owner,
    .vhost_get_vq_index = dp_get_vq_index,
    .vhost_set_vring_enable = dp_set_vring_enable,
    .vhost_dev_start = dp_dev_start,
    .vhost_send_device_iotlb_msg = dp_send_device_iotlb_msg,
};
