package calc;

import static org.junit.Assert.assertEquals;

import org.junit.Test;

public class CalcTest {
	@Test
	public void sumsNothing() {
		assertEquals(0, Calc.sum());
	}

	@Test
	public void sumsThree() {
		assertEquals(6, Calc.sum(1, 2, 3));
	}
}
