// JUnit 4 tests of the sample, as a course writes them: assertions,
// hamcrest matchers, @Before, expected exceptions, a timeout.
package sample;

import static org.hamcrest.CoreMatchers.is;
import static org.junit.Assert.assertEquals;
import static org.hamcrest.MatcherAssert.assertThat;
import static org.junit.Assert.assertTrue;

import java.util.Arrays;
import org.junit.Before;
import org.junit.Test;

public class InventoryTest {
	private Inventory inv;

	@Before
	public void setUp() {
		inv = new Inventory();
		inv.add("hammer", "tool", 12);
		inv.add("bread", "food", 3);
		inv.add("novel", "book", 9);
	}

	@Test
	public void countsByKind() {
		assertEquals(1, inv.count(Inventory.Kind.TOOL));
		assertThat(inv.count(Inventory.Kind.FOOD), is(1));
	}

	@Test
	public void cheapestIsBread() {
		assertTrue(inv.cheapest().isPresent());
		assertEquals("bread", inv.cheapest().get().name());
	}

	@Test(timeout = 10000)
	public void namesAreSorted() {
		assertEquals(Arrays.asList("bread", "novel"), inv.names(10));
	}

	@Test(expected = IllegalArgumentException.class)
	public void negativePriceIsRejected() {
		inv.add("x", "tool", -1);
	}

	@Test
	public void reportHasALinePerItem() {
		assertEquals(3, inv.report().split("\n").length);
	}
}
