// polyfill.mjs — `Promise.withResolvers` for Node 20 (it arrived in Node 22).
//
// Helia 5 / js-libp2p 2 dependencies (it-queue, mortice, abort-error) call it. Import this
// module FIRST: ES modules evaluate in import order, so it runs before any of them.

if (typeof Promise.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers () {
      let resolve
      let reject
      const promise = new this((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    }
  })
}
