// mount(2) and umount2(2) with a deadline. An NFS server that does not answer can keep either
// call inside the kernel for minutes; the boot (or the shutdown) must not wait that long. The
// call runs on a detached thread; when the deadline passes first the caller gets ETIMEDOUT
// and the thread finishes (or stays blocked) on its own, owning copies of its arguments.
#define _GNU_SOURCE
#include "CSupport.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_signal;
    int done;
    int abandoned;   // the caller gave up: the thread frees the job
    int result_errno;
    int is_mount;
    char *source, *target, *type, *data;
    unsigned long flags;
} job_t;

static void free_job(job_t *job) {
    free(job->source); free(job->target); free(job->type); free(job->data);
    pthread_mutex_destroy(&job->lock);
    pthread_cond_destroy(&job->done_signal);
    free(job);
}

static void *run_job(void *argument) {
    job_t *job = argument;
    int result = job->is_mount ? mount(job->source, job->target, job->type, job->flags, job->data)
                               : umount2(job->target, (int)job->flags);
    int saved = result == 0 ? 0 : errno;
    pthread_mutex_lock(&job->lock);
    job->done = 1;
    job->result_errno = saved;
    int abandoned = job->abandoned;
    pthread_cond_signal(&job->done_signal);
    pthread_mutex_unlock(&job->lock);
    if (abandoned) free_job(job);
    return NULL;
}

static char *copy(const char *text) { return text ? strdup(text) : NULL; }

static int run_with_deadline(job_t *job, int timeout_ms) {
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&job->done_signal, &attributes);
    pthread_condattr_destroy(&attributes);

    pthread_attr_t thread_attributes;
    pthread_attr_init(&thread_attributes);
    pthread_attr_setdetachstate(&thread_attributes, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    int created = pthread_create(&thread, &thread_attributes, run_job, job);
    pthread_attr_destroy(&thread_attributes);
    if (created != 0) { free_job(job); return created; }

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec += 1; deadline.tv_nsec -= 1000000000L; }

    pthread_mutex_lock(&job->lock);
    while (!job->done) {
        if (pthread_cond_timedwait(&job->done_signal, &job->lock, &deadline) == ETIMEDOUT && !job->done) break;
    }
    if (!job->done) {
        job->abandoned = 1;
        pthread_mutex_unlock(&job->lock);
        return ETIMEDOUT;
    }
    int result = job->result_errno;
    pthread_mutex_unlock(&job->lock);
    free_job(job);
    return result;
}

int ei_mount_with_timeout(const char *source, const char *target, const char *type, unsigned long flags,
                          const char *data, int timeout_ms) {
    job_t *job = calloc(1, sizeof *job);
    if (!job) return ENOMEM;
    job->is_mount = 1;
    job->source = copy(source); job->target = copy(target); job->type = copy(type); job->data = copy(data);
    job->flags = flags;
    return run_with_deadline(job, timeout_ms);
}

int ei_umount_with_timeout(const char *target, int flags, int timeout_ms) {
    job_t *job = calloc(1, sizeof *job);
    if (!job) return ENOMEM;
    job->target = copy(target);
    job->flags = (unsigned long)flags;
    return run_with_deadline(job, timeout_ms);
}
