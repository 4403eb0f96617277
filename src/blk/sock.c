/*
 * blk/sock.c: listening and dialing for the NBD server and replication:
 * "HOST:PORT" ("[v6]:PORT"; port 0 picks a free port) or "unix:PATH".
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "blk_int.h"
#include "sock.h"

static int
split_hostport(
    const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon;
	size_t      hl;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (end == NULL || end[1] != ':')
			return -EINVAL;
		hl = (size_t)(end - addr - 1);
		if (hl >= hcap)
			return -EINVAL;
		memcpy(host, addr + 1, hl);
		host[hl] = '\0';
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL)
			return -EINVAL;
		hl = (size_t)(colon - addr);
		if (hl >= hcap)
			return -EINVAL;
		memcpy(host, addr, hl);
		host[hl] = '\0';
	}
	if (strlen(colon + 1) == 0 || strlen(colon + 1) >= pcap)
		return -EINVAL;
	memcpy(port, colon + 1, strlen(colon + 1) + 1);
	return 0;
}

static int
unix_addr(struct sockaddr_un *sun, const char *path)
{
	if (strlen(path) == 0 || strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

int
bt__blk_listen(const char *addr, int *fd_out, char *actual, size_t cap,
    struct bt_diag *diag)
{
	int fd, rc, one = 1;

	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un sun;

		rc = unix_addr(&sun, addr + 5);
		if (rc != 0) {
			bt_diag_set(
			    diag, -1, "bad unix socket path in '%s'", addr);
			return rc;
		}
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		unlink(addr + 5); /* a stale socket from an earlier run */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0
		    || listen(fd, 64) != 0) {
			rc = -errno;
			close(fd);
			bt_diag_set(diag, -1, "cannot listen on '%s': %s",
			    addr, bt_strerror(rc));
			return rc;
		}
		snprintf(actual, cap, "%s", addr);
		*fd_out = fd;
		return 0;
	} else {
		char                    host[256], port[32];
		struct addrinfo         hints, *res = NULL;
		struct sockaddr_storage ss;
		socklen_t               sl = sizeof(ss);
		char                    hbuf[NI_MAXHOST], pbuf[NI_MAXSERV];

		if (split_hostport(
		        addr, host, sizeof(host), port, sizeof(port))
		    != 0) {
			bt_diag_set(diag, -1,
			    "'%s' is not HOST:PORT or "
			    "unix:PATH",
			    addr);
			return -EINVAL;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
		if (rc != 0) {
			bt_diag_set(diag, -1, "cannot resolve '%s': %s", addr,
			    gai_strerror(rc));
			return -EINVAL;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			freeaddrinfo(res);
			return rc;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, res->ai_addr, res->ai_addrlen) != 0
		    || listen(fd, 64) != 0) {
			rc = -errno;
			freeaddrinfo(res);
			close(fd);
			bt_diag_set(diag, -1, "cannot listen on '%s': %s",
			    addr, bt_strerror(rc));
			return rc;
		}
		freeaddrinfo(res);
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0
		    || getnameinfo((struct sockaddr *)&ss, sl, hbuf,
		           sizeof(hbuf), pbuf, sizeof(pbuf),
		           NI_NUMERICHOST | NI_NUMERICSERV)
		        != 0) {
			rc = -errno;
			close(fd);
			return rc != 0 ? rc : -EINVAL;
		}
		if (ss.ss_family == AF_INET6)
			snprintf(actual, cap, "[%s]:%s", hbuf, pbuf);
		else
			snprintf(actual, cap, "%s:%s", hbuf, pbuf);
		*fd_out = fd;
		return 0;
	}
}

void
bt__blk_sock_tune(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int
bt__blk_dial(const char *addr, int *fd_out, struct bt_diag *diag)
{
	int fd, rc;

	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un sun;

		rc = unix_addr(&sun, addr + 5);
		if (rc != 0)
			return rc;
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
			rc = -errno;
			close(fd);
			bt_diag_set(diag, -1, "cannot connect to '%s': %s",
			    addr, bt_strerror(rc));
			return rc;
		}
	} else {
		char            host[256], port[32];
		struct addrinfo hints, *res = NULL;

		if (split_hostport(
		        addr, host, sizeof(host), port, sizeof(port))
		    != 0) {
			bt_diag_set(diag, -1,
			    "'%s' is not HOST:PORT or "
			    "unix:PATH",
			    addr);
			return -EINVAL;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc != 0) {
			bt_diag_set(diag, -1, "cannot resolve '%s': %s", addr,
			    gai_strerror(rc));
			return -EINVAL;
		}
		fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			rc = -errno;
			freeaddrinfo(res);
			return rc;
		}
		if (connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
			rc = -errno;
			freeaddrinfo(res);
			close(fd);
			bt_diag_set(diag, -1, "cannot connect to '%s': %s",
			    addr, bt_strerror(rc));
			return rc;
		}
		freeaddrinfo(res);
		bt__blk_sock_tune(fd);
	}
	*fd_out = fd;
	return 0;
}

int
bt__blk_read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return BT_ECLOSED;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
bt__blk_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
bt__blk_wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int           rc;

	do {
		rc = poll(&p, 1, timeout_ms);
	} while (rc < 0 && errno == EINTR);
	if (rc < 0)
		return -errno;
	return rc == 0 ? -ETIMEDOUT : 0;
}
