// The CPU-heavy Java exercise of `make bench` (section jvm): seconds of a
// Mandelbrot set over small immutable records and streams, code that C2
// (escape analysis, inlining through the lambdas) runs well over 1.5x faster
// than C1 does, so that a JVM default which speeds up short tasks (C1 only)
// shows what it costs long ones.
import java.util.stream.IntStream;

public class Crunch {
	record C(double re, double im) {
		C times(C o) { return new C(re * o.re - im * o.im, re * o.im + im * o.re); }
		C plus(C o) { return new C(re + o.re, im + o.im); }
		double abs2() { return re * re + im * im; }
	}

	static int escape(C c, int max) {
		C z = new C(0, 0);
		int i = 0;
		while (i < max && z.abs2() <= 4.0) {
			z = z.times(z).plus(c);
			i++;
		}
		return i;
	}

	public static long run(int size) {
		return IntStream.range(0, size).mapToLong(y ->
			IntStream.range(0, size)
				.map(x -> escape(new C(-2.0 + 2.5 * x / size, -1.25 + 2.5 * y / size), 500))
				.asLongStream().sum()).sum();
	}
}
