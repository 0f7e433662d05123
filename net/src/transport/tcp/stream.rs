//! [`TcpStream`]: a TCP connection that counts the bytes it moves into a shared
//! [`Bandwidth`] (raw TCP bytes, both ways).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use async_io::Async;
use futures::{AsyncRead, AsyncWrite};

use super::Bandwidth;
use crate::bandwidth::Direction;

/// A TCP connection that counts its bytes into a [`Bandwidth`].
#[derive(Debug)]
pub struct TcpStream {
    pub(super) inner: Async<std::net::TcpStream>,
    pub(super) bandwidth: Bandwidth,
}

impl TcpStream {
    /// The underlying socket (e.g. for its addresses).
    pub fn get_ref(&self) -> &std::net::TcpStream {
        self.inner.get_ref()
    }
}

fn count_in(bandwidth: &Bandwidth, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = poll {
        bandwidth.record_total(Instant::now(), Direction::In, n);
    }
    poll
}

fn count_out(bandwidth: &Bandwidth, poll: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    if let Poll::Ready(Ok(n)) = poll {
        bandwidth.record_total(Instant::now(), Direction::Out, n);
    }
    poll
}

impl AsyncRead for TcpStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        count_in(
            &this.bandwidth,
            Pin::new(&mut this.inner).poll_read(cx, buf),
        )
    }

    fn poll_read_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &mut [io::IoSliceMut<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        count_in(
            &this.bandwidth,
            Pin::new(&mut this.inner).poll_read_vectored(cx, bufs),
        )
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        count_out(
            &this.bandwidth,
            Pin::new(&mut this.inner).poll_write(cx, buf),
        )
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        count_out(
            &this.bandwidth,
            Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
        )
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
