// The known result of Crunch.run(400) (computed with C2, C1 and natively:
// a JIT that changes it is wrong).
import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class CrunchTest {
	@Test
	public void mandelbrot400() {
		assertEquals(20303124L, Crunch.run(400));
	}
}
