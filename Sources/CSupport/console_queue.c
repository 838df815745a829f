// Console output that nobody waits for. A line printed to stdout or stderr goes into a bounded
// queue, and a thread of its own writes the queue out with plain blocking writes. So an event
// loop that logs never sits in write(2) behind a terminal, a pipe or journald that stopped
// reading: when the queue is full, the line is dropped and counted, and the count is written
// as a notice once the output moves again. In C, below every Swift module, so the entry point
// (Commands) and power-off (PID1) can flush it before the process ends.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QUEUE_BYTES (1 << 20)
#define WRITE_CHUNK (64 * 1024)

typedef struct {
    int fd;
    pthread_mutex_t lock;
    pthread_cond_t wake;   // the writer: something to write
    pthread_cond_t idle;   // flush: the writer caught up
    char *ring;
    size_t head, used;
    unsigned long dropped_pending, dropped_total;
    int writing, started;
    pthread_t thread;
} console_queue;

static console_queue queues[2] = {
    { .fd = STDOUT_FILENO, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER },
    { .fd = STDERR_FILENO, .lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER },
};

static void write_all(int fd, const char *bytes, size_t length) {
    while (length > 0) {
        ssize_t written = write(fd, bytes, length);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) return; // the console is gone (EIO, EPIPE): nothing useful left to do
        bytes += written;
        length -= (size_t)written;
    }
}

static void *writer(void *argument) {
    console_queue *queue = argument;
    // Every signal blocked: the supervisor's signals are not this thread's, and a write to a
    // closed pipe then fails with EPIPE instead of raising SIGPIPE.
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    char *chunk = malloc(WRITE_CHUNK);
    pthread_mutex_lock(&queue->lock);
    for (;;) {
        while (queue->used == 0 && queue->dropped_pending == 0) pthread_cond_wait(&queue->wake, &queue->lock);
        size_t take = queue->used < WRITE_CHUNK ? queue->used : WRITE_CHUNK;
        // At most two runs: to the ring's end, then from its start.
        size_t first = take < QUEUE_BYTES - queue->head ? take : QUEUE_BYTES - queue->head;
        if (chunk) {
            memcpy(chunk, queue->ring + queue->head, first);
            memcpy(chunk + first, queue->ring, take - first);
        }
        queue->head = (queue->head + take) % QUEUE_BYTES;
        queue->used -= take;
        // The notice goes out once what was queued before the drops is written.
        unsigned long notice = queue->used == 0 ? queue->dropped_pending : 0;
        if (notice) queue->dropped_pending = 0;
        queue->writing = 1;
        pthread_mutex_unlock(&queue->lock);
        if (chunk) write_all(queue->fd, chunk, take);
        if (notice) {
            char line[160];
            int length = snprintf(line, sizeof line, "[console] %lu line%s dropped: this output was not read as fast as it was written\n",
                                  notice, notice == 1 ? "" : "s");
            write_all(queue->fd, line, (size_t)length);
        }
        pthread_mutex_lock(&queue->lock);
        queue->writing = 0;
        if (queue->used == 0 && queue->dropped_pending == 0) pthread_cond_broadcast(&queue->idle);
    }
    return NULL;
}

static console_queue *queue_for(int fd) {
    if (fd == STDOUT_FILENO) return &queues[0];
    if (fd == STDERR_FILENO) return &queues[1];
    return NULL;
}

int ei_console_write(int fd, const char *bytes, size_t length) {
    console_queue *queue = queue_for(fd);
    if (!queue) {
        write_all(fd, bytes, length);
        return 0;
    }
    pthread_mutex_lock(&queue->lock);
    if (!queue->started) {
        queue->ring = malloc(QUEUE_BYTES);
        if (queue->ring && pthread_create(&queue->thread, NULL, writer, queue) == 0) {
            pthread_detach(queue->thread);
            queue->started = 1;
        } else {
            // No thread to be had: write as before, blocking.
            free(queue->ring);
            queue->ring = NULL;
            pthread_mutex_unlock(&queue->lock);
            write_all(fd, bytes, length);
            return 0;
        }
    }
    if (length > QUEUE_BYTES - queue->used) {
        unsigned long lines = 0;
        for (size_t i = 0; i < length; i++) lines += bytes[i] == '\n';
        if (lines == 0) lines = 1;
        queue->dropped_pending += lines;
        queue->dropped_total += lines;
        pthread_cond_signal(&queue->wake);
        pthread_mutex_unlock(&queue->lock);
        return 1;
    }
    size_t tail = (queue->head + queue->used) % QUEUE_BYTES;
    size_t first = length < QUEUE_BYTES - tail ? length : QUEUE_BYTES - tail;
    memcpy(queue->ring + tail, bytes, first);
    memcpy(queue->ring, bytes + first, length - first);
    queue->used += length;
    pthread_cond_signal(&queue->wake);
    pthread_mutex_unlock(&queue->lock);
    return 0;
}

int ei_console_flush(int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec += 1; deadline.tv_nsec -= 1000000000L; }
    int caught_up = 1;
    for (int i = 0; i < 2; i++) {
        console_queue *queue = &queues[i];
        pthread_mutex_lock(&queue->lock);
        while (queue->started && (queue->used > 0 || queue->writing || queue->dropped_pending > 0)) {
            if (pthread_cond_timedwait(&queue->idle, &queue->lock, &deadline) == ETIMEDOUT) { caught_up = 0; break; }
        }
        pthread_mutex_unlock(&queue->lock);
    }
    return caught_up;
}

unsigned long ei_console_dropped(int fd) {
    console_queue *queue = queue_for(fd);
    if (!queue) return 0;
    pthread_mutex_lock(&queue->lock);
    unsigned long dropped = queue->dropped_total;
    pthread_mutex_unlock(&queue->lock);
    return dropped;
}
