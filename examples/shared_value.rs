//! The seed's shared-memory example: a child writes a `Value` and negates an `Array`.
//!
//! ```python
//! def f(n, a):
//!     n.value = 3.1415927
//!     for i in range(len(a)):
//!         a[i] = -a[i]
//!
//! if __name__ == '__main__':
//!     num = Value('d', 0.0)
//!     arr = Array('i', range(10))
//!
//!     p = Process(target=f, args=(num, arr))
//!     p.start()
//!     p.join()
//!
//!     print(num.value)
//!     print(arr[:])
//! ```

// ANCHOR: example
use procvisor::{Array, Process, Value, register};

#[allow(clippy::approx_constant, reason = "the seed's value")]
fn f(n: Value<f64>, a: Array<i32>) {
    n.set(3.1415927);
    for i in 0..a.len() {
        a.set(i, -a.get(i).unwrap()).unwrap();
    }
}
register!(f);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let num = Value::new(0.0_f64)?;
    let arr = Array::new(&(0..10).collect::<Vec<i32>>())?;

    let mut p = Process::new(f, (num.clone(), arr.clone()))?;
    p.start()?;
    p.join()?;

    println!("{}", num.get());
    println!("{:?}", arr.to_vec());
    Ok(())
}
// ANCHOR_END: example
